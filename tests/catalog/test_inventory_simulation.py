"""The simulated stock of the reference store: deterministic, plausible, never over real stock."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from catalog.db import make_engine
from catalog.ingest import import_online_retail
from catalog.inventory import InvalidStockChange, StockLevel, StockSource, latest_load, ledger_totals, load_stock
from catalog.migrate import upgrade
from catalog.models import ProductRow, ReplenishmentRow, StockLevelRow
from catalog.stock_simulation import (
    DISCONTINUED_AFTER_DAYS,
    SalesSummary,
    simulate,
    simulate_product,
    simulate_stock,
)
from tests.catalog.conftest import Imported

AS_OF = date(2011, 11, 1)


def summaries(n: int, rate: float = 2.0, sd: float = 3.0, days_since_sale: int = 1) -> list[SalesSummary]:
    return [SalesSummary(f"SKU{i:04d}", AS_OF - timedelta(days=days_since_sale), rate, sd) for i in range(n)]


def test_same_sku_same_stock_and_different_skus_differ() -> None:
    [a, b] = summaries(2)
    assert simulate_product(a, AS_OF) == simulate_product(a, AS_OF)
    assert simulate([a, b], AS_OF) == simulate([a, b], AS_OF)
    levels = {simulate_product(s, AS_OF)[0].on_hand for s in summaries(30)}
    assert len(levels) > 5


def test_simulated_stock_is_plausible() -> None:
    products = summaries(600)
    levels, replenishments = simulate(products, AS_OF)
    incoming = {r.sku: r for r in replenishments}
    assert all(level.on_hand >= 0 and level.reorder_point >= 0 for level in levels)
    out = [level for level in levels if level.on_hand == 0]
    assert 0.03 < len(out) / len(levels) < 0.15
    assert all(level.sku in incoming for level in out)  # out of stock → a delivery is on its way
    assert all(incoming[level.sku] for level in levels if level.on_hand <= level.reorder_point)
    assert all(level.sku not in incoming for level in levels if level.on_hand > level.reorder_point)
    lead = {level.sku: level.lead_time_days for level in levels}
    assert all(1 <= (r.expected_on - AS_OF).days <= lead[r.sku] for r in replenishments)
    assert all(r.quantity == 114 for r in replenishments)  # eight weeks at 2 a day (112), up to a pack of 6
    assert not any(level.discontinued for level in levels)


def test_no_recent_sale_means_discontinued_without_deliveries() -> None:
    stale = summaries(200, days_since_sale=DISCONTINUED_AFTER_DAYS + 1)
    levels, replenishments = simulate(stale, AS_OF)
    assert all(level.discontinued and level.reorder_point == 0 for level in levels)
    assert replenishments == []
    assert all(0 <= level.on_hand <= 5 for level in levels)
    assert any(level.on_hand > 0 for level in levels) and any(level.on_hand == 0 for level in levels)
    recent = simulate(summaries(5, days_since_sale=DISCONTINUED_AFTER_DAYS), AS_OF)[0]
    assert not any(level.discontinued for level in recent)


def stock_rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        levels = conn.execute(
            select(
                StockLevelRow.sku,
                StockLevelRow.on_hand,
                StockLevelRow.reorder_point,
                StockLevelRow.lead_time_days,
                StockLevelRow.discontinued,
            ).order_by(StockLevelRow.sku)
        ).all()
        incoming = conn.execute(
            select(ReplenishmentRow.sku, ReplenishmentRow.quantity, ReplenishmentRow.expected_on).order_by(
                ReplenishmentRow.sku
            )
        ).all()
    return [tuple(r) for r in levels] + [tuple(r) for r in incoming]


def test_rebuilding_gives_identical_stock(tmp_path: Path, tiny_store: Path) -> None:
    results = []
    for name in ("one", "two"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        import_online_retail(engine, tiny_store, progress=False)
        report = simulate_stock(engine)
        assert not report.skipped and report.as_of == date(2010, 12, 5)
        results.append(stock_rows(engine))
        assert simulate_stock(engine).skipped
        assert ledger_totals(engine) == {sku: n for sku, n, *_ in stock_rows(engine)[: report.products] if n}
        engine.dispose()
    assert results[0] == results[1] and len(results[0]) >= 5


def test_simulation_never_replaces_stock_from_files_unless_forced(sqlite_engine: Engine, tiny_store: Path) -> None:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    load_stock(
        sqlite_engine,
        [StockLevel("85123A", 7, 1, 7)],
        [],
        source=StockSource.FILES,
        as_of=date(2010, 12, 5),
        actor="t",
        reference="files",
    )
    with pytest.raises(InvalidStockChange, match="--force"):
        simulate_stock(sqlite_engine)
    assert simulate_stock(sqlite_engine, force=True).products == 5
    load = latest_load(sqlite_engine)
    assert load is not None and load.source is StockSource.SIMULATED


@pytest.mark.slow
def test_full_reference_store_simulation(full_sqlite: Imported) -> None:
    engine = full_sqlite.engine
    report = simulate_stock(engine, force=True)
    assert report.as_of == date(2011, 11, 1) and report.products == full_sqlite.report.counts.products
    cutoff = report.as_of - timedelta(days=DISCONTINUED_AFTER_DAYS)
    with engine.connect() as conn:
        stale = conn.scalar(select(ProductRow.id).where(ProductRow.last_sold < cutoff).limit(1)) is not None
        levels = conn.execute(select(StockLevelRow)).all()
        incoming = set(conn.scalars(select(ReplenishmentRow.sku)))
    assert stale and 0.1 < report.discontinued / report.products < 0.5
    assert all(r.on_hand >= 0 for r in levels)
    assert all(r.sku in incoming for r in levels if r.on_hand == 0 and not r.discontinued)
    assert not any(r.sku in incoming for r in levels if r.discontinued)
    assert 0.03 < report.out_of_stock / (report.products - report.discontinued) < 0.2
    assert ledger_totals(engine) == {r.sku: r.on_hand for r in levels if r.on_hand}


def test_reimporting_the_catalog_keeps_the_stock(sqlite_engine: Engine, tiny_store: Path) -> None:
    # stock is keyed by SKU without a foreign key, so the import's wholesale replacement of products still works
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    simulate_stock(sqlite_engine)
    before = stock_rows(sqlite_engine)
    assert not import_online_retail(sqlite_engine, tiny_store, force=True, progress=False).skipped
    assert stock_rows(sqlite_engine) == before
    assert simulate_stock(sqlite_engine).skipped
