"""Catalog test fixtures: a tiny hand-made store, the full reference store imported once, throwaway PostgreSQL DBs."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, Date, DateTime, Engine, Integer, Numeric, text
from sqlalchemy.types import TypeEngine

from assistant.settings import load_settings
from catalog.db import make_engine
from catalog.ingest import TABLES, ImportReport, import_online_retail
from catalog.migrate import upgrade
from catalog.models import Base, include_name
from catalog.online_retail import CatalogTables
from tests.postgres import PostgresMissing, throwaway_database

II_COLUMNS = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]
I_COLUMNS = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
UK = "United Kingdom"
HEART = "WHITE HANGING HEART T-LIGHT HOLDER"

TINY_II = [
    ("489434", "85123A", HEART, 6, "2009-12-01 07:45:00", 2.55, 13085, UK),
    ("489434", "85123A", HEART, 6, "2009-12-01 07:45:00", 2.55, 13085, UK),  # scanned twice: both lines stay
    ("489434", "POST", "POSTAGE", 1, "2009-12-01 07:45:00", 18.0, 13085, UK),  # non-product
    ("C489449", "85123A", HEART, -2, "2009-12-02 10:00:00", 2.55, 13085, UK),  # cancellation
    ("489500", "20725", "LUNCH BAG RED RETROSPOT", 10, "2009-12-03 09:00:00", 1.65, None, UK),  # guest
    ("489500", "85123a", f" {HEART} ", 1, "2009-12-03 09:00:00", 2.95, None, UK),  # lowercase code, padded
    ("489501", "20725", "nan", -5, "2009-12-03 09:30:00", 0.0, None, UK),  # stock adjustment
    ("489502", "22423", "REGENCY CAKESTAND 3 TIER", 1, "2009-12-04 11:00:00", 0.0, 12346, UK),  # price 0
    ("A506401", "B", "Adjust bad debt", 1, "2010-04-29 13:36:00", -53594.36, None, UK),  # non-product
    ("536365", "85123A", HEART, 6, "2010-12-01 08:26:00", 2.55, 17850, UK),  # overlap with file I
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850, UK),
]
TINY_I = [
    (536365, "85123A", HEART, 6, "2010-12-01 08:26:00", 2.55, 17850.0, UK),  # overlap: dropped
    (536365, "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, 17850.0, UK),  # overlap: dropped
    (536366, "22633", "HAND WARMER UNION JACK", 6, "2010-12-01 08:28:00", 1.85, 17850.0, UK),
    (536367, "20725", "LUNCH BAG RED SPOTTY", 2, "2010-12-01 08:34:00", 1.65, 0.0, UK),  # guest (0)
    (536367, "DCGS0058", "MISO PRETTY GUM", 1, "2010-12-01 08:35:00", 0.83, 0.0, UK),  # next minute, same order
    (536368, "20725", "LUNCH BAG RED RETROSPOT", 4, "2010-12-02 10:00:00", 1.65, 12346.0, "France"),
    (536369, "20725", "LUNCH BAG RED RETROSPOT", 4, "2010-12-03 10:00:00", 1.65, 12346.0, "France"),
    (536370, "20725", "LUNCH BAG RED RETROSPOT", 4, "2010-12-04 10:00:00", 1.75, 12346.0, "Germany"),
]


def write_tiny_store(folder: Path) -> dict[str, Path]:
    """Both source files in their own schemas and dtypes, with one example of every rule; returns kind → path."""
    folder.mkdir(parents=True, exist_ok=True)
    ii = pd.DataFrame(TINY_II, columns=II_COLUMNS).astype({"Customer ID": "Int64", "Quantity": "int64"})
    i = pd.DataFrame(TINY_I, columns=I_COLUMNS)
    paths = {"online_retail_ii": folder / "ii.parquet", "online_retail": folder / "i.parquet"}
    ii.to_parquet(paths["online_retail_ii"], index=False)
    i.to_parquet(paths["online_retail"], index=False)
    return paths


@pytest.fixture
def tiny_store(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny_store"
    write_tiny_store(folder)
    return folder


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite catalog."""
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Imported:
    engine: Engine
    report: ImportReport
    data_dir: Path
    checksums: dict[str, str]
    """`table_checksums` right after the import."""


@pytest.fixture(scope="session")
def full_data_dir() -> Path:
    return load_settings().shop_data_dir


@pytest.fixture(scope="session")
def full_sqlite(tmp_path_factory: pytest.TempPathFactory, full_data_dir: Path) -> Iterator[Imported]:
    """The full reference store imported once into a temporary SQLite file (tests using it are `slow`)."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('full') / 'catalog.db'}")
    upgrade(engine)
    report = import_online_retail(engine, full_data_dir, progress=False)
    yield Imported(engine=engine, report=report, data_dir=full_data_dir, checksums=table_checksums(engine))
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_database("shop_test"))
        except PostgresMissing as exc:
            pytest.fail(str(exc))
        yield url


def _canonical(column: pd.Series, kind: TypeEngine[Any]) -> pd.Series:
    """One column in a backend-independent form (SQLite stores dates as text and money as REAL)."""
    if isinstance(kind, Numeric):
        return pd.to_numeric(column).astype("float64").round(2)
    if isinstance(kind, Date | DateTime):
        return pd.to_datetime(column).astype("datetime64[us]")
    if isinstance(kind, Boolean):
        return column.astype(bool)
    if isinstance(kind, Integer):
        return column.astype("int64")
    return column.astype(object).where(column.notna(), "<NULL>").astype(str)


def table_checksums(engine: Engine) -> dict[str, str]:
    """Row count and sha256 of each imported table's canonical content, sorted by primary key in pandas (database
    collations differ), so equal content gives equal sums across SQLite and PostgreSQL."""
    sums = {}
    with engine.connect() as conn:
        for name in TABLES:
            table = Base.metadata.tables[name]
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cursor.execute(f"SELECT {', '.join(table.columns.keys())} FROM {name}")
            frame = pd.DataFrame(cursor.fetchall(), columns=table.columns.keys())
            cursor.close()
            frame = pd.DataFrame({c.name: _canonical(frame[c.name], c.type) for c in table.columns})
            frame = frame.sort_values([c.name for c in table.primary_key.columns], ignore_index=True)
            hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
            sums[name] = f"{len(frame)}:{hashlib.sha256(hashed).hexdigest()}"
    return sums


def schema_differences(engine: Engine) -> list[object]:
    """What Alembic's autogenerate would change to make the database match the models (empty: nothing)."""
    with engine.connect() as conn:
        opts = {"compare_type": True, "compare_server_default": True, "include_name": include_name}
        context = MigrationContext.configure(conn, opts=opts)
        return list(compare_metadata(context, Base.metadata))


def failing_build(tables: Callable[[pd.DataFrame], CatalogTables]) -> Callable[[pd.DataFrame], CatalogTables]:
    """`build_tables`, but its last table repeats a row: writing it fails after everything else was written."""

    def build(lines: pd.DataFrame) -> CatalogTables:
        built = tables(lines)
        daily = pd.concat([built.daily_sales, built.daily_sales.tail(1)], ignore_index=True)
        return replace(built, daily_sales=daily)

    return build


class CountWatcher(threading.Thread):
    """Counts order lines and products again and again on another connection, e.g. while an import runs."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(daemon=True)
        self._engine = engine
        self._done = threading.Event()
        self.seen: list[tuple[int, int]] = []

    def run(self) -> None:
        query = text("SELECT (SELECT count(*) FROM order_lines), (SELECT count(*) FROM products)")
        while not self._done.is_set():
            with self._engine.connect() as conn:
                lines, products = conn.execute(query).one()
            self.seen.append((int(lines), int(products)))
            time.sleep(0.05)

    def __enter__(self) -> CountWatcher:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self.join(timeout=120)


def table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.scalar(text(f"SELECT count(*) FROM {name}")) or 0) for name in TABLES}
