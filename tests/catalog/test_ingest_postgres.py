"""The same ingestion against PostgreSQL (COPY path), in a throwaway database, compared with the SQLite import."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import ingest
from catalog.db import make_engine
from catalog.errors import CatalogUnavailable
from catalog.ingest import import_online_retail, last_import
from catalog.migrate import upgrade
from catalog.repository import SqlProductRepository
from tests.catalog.conftest import (
    HEART,
    CountWatcher,
    Imported,
    failing_build,
    schema_differences,
    table_checksums,
    table_counts,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_tiny_store_on_postgres(postgres_url: str, tiny_store: Path) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    report = import_online_retail(engine, tiny_store, progress=False)
    assert table_counts(engine) == {
        "products": 5,
        "customers": 3,
        "orders": 9,
        "order_lines": 13,
        "daily_sales": 12,
    }
    assert report.counts.guest_orders == 2
    product = SqlProductRepository(engine).get_by_sku("85123A")
    assert product is not None and product.title == HEART
    assert schema_differences(engine) == []  # the foreign keys dropped for COPY are back
    engine.dispose()


def test_failed_import_on_postgres_leaves_the_previous_catalog(
    postgres_url: str, tiny_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    first = import_online_retail(engine, tiny_store, progress=False)
    before = table_checksums(engine)
    monkeypatch.setattr(ingest, "build_tables", failing_build(ingest.build_tables))
    with pytest.raises(CatalogUnavailable):
        import_online_retail(engine, tiny_store, force=True, progress=False)
    assert table_checksums(engine) == before
    assert last_import(engine) == first
    assert schema_differences(engine) == []
    engine.dispose()


def test_full_store_on_postgres_equals_sqlite(postgres_url: str, full_sqlite: Imported) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    report = import_online_retail(engine, full_sqlite.data_dir, progress=False)
    assert report.fingerprint == full_sqlite.report.fingerprint
    assert report.counts == full_sqlite.report.counts
    assert report.dropped == full_sqlite.report.dropped
    assert table_counts(engine) == table_counts(full_sqlite.engine)
    checksums = table_checksums(engine)
    assert checksums == full_sqlite.checksums

    again = import_online_retail(engine, full_sqlite.data_dir, progress=False)
    assert again.skipped
    with CountWatcher(engine) as watcher:
        forced = import_online_retail(engine, full_sqlite.data_dir, force=True, progress=False)
    assert not forced.skipped
    assert watcher.seen and set(watcher.seen) == {(forced.counts.order_lines, forced.counts.products)}
    assert table_checksums(engine) == checksums
    engine.dispose()
