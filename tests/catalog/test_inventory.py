"""Stock changes: ledger in the same transaction, no negative stock, loads and the store's files, subscriptions."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from catalog.ingest import import_online_retail
from catalog.inventory import (
    InsufficientStock,
    InvalidStockChange,
    InvalidStockFile,
    MovementReason,
    Replenishment,
    StockLevel,
    StockNotLoaded,
    StockNotTracked,
    StockSource,
    UnknownProduct,
    adjust_stock,
    change_stock,
    due_subscriptions,
    latest_load,
    ledger_totals,
    load_stock,
    mark_notified,
    movements,
    place_order,
    receive_replenishment,
    schedule_replenishment,
    store_today,
    subscribe,
)
from catalog.models import ReplenishmentRow, StockLevelRow
from catalog.stock_files import read_stock_files

AS_OF = date(2010, 12, 5)
HEART, BAG, WARMER = "85123A", "20725", "22633"


@pytest.fixture
def engine(sqlite_engine: Engine, tiny_store: Path) -> Engine:
    """The tiny store with hand-made stock: 10 hearts, 0 bags (48 coming), discontinued hand warmers."""
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    load_stock(
        sqlite_engine,
        [
            StockLevel(HEART, 10, 4, 14),
            StockLevel(BAG, 0, 6, 7),
            StockLevel(WARMER, 2, 0, 7, discontinued=True),
        ],
        [Replenishment(BAG, 48, date(2010, 12, 9))],
        source=StockSource.FILES,
        as_of=AS_OF,
        actor="tester",
        reference="test",
    )
    return sqlite_engine


def on_hand(engine: Engine, sku: str) -> int | None:
    with engine.connect() as conn:
        return conn.scalar(select(StockLevelRow.on_hand).where(StockLevelRow.sku == sku))


def test_load_writes_levels_and_one_count_movement_per_nonzero_product(engine: Engine) -> None:
    assert on_hand(engine, HEART) == 10
    assert [(m.delta, m.on_hand_after, m.reason) for m in movements(engine, HEART)] == [(10, 10, MovementReason.COUNT)]
    assert movements(engine, BAG) == []  # 0 → 0 is no change
    assert ledger_totals(engine) == {HEART: 10, WARMER: 2}
    load = latest_load(engine)
    assert load is not None and load.source is StockSource.FILES and load.as_of == AS_OF


def test_order_takes_stock_and_writes_the_ledger(engine: Engine) -> None:
    moved = place_order(engine, HEART, 3, actor="assistant", reference="web-123")
    assert (moved.delta, moved.on_hand_after, moved.reason, moved.reference) == (-3, 7, MovementReason.ORDER, "web-123")
    assert on_hand(engine, HEART) == 7
    assert ledger_totals(engine)[HEART] == 7
    assert movements(engine, HEART)[-1].actor == "assistant"


def test_order_beyond_stock_is_refused_and_changes_nothing(engine: Engine) -> None:
    with pytest.raises(InsufficientStock, match="only 10 on hand"):
        place_order(engine, HEART, 11, actor="assistant")
    with pytest.raises(InsufficientStock):
        adjust_stock(engine, BAG, -1, actor="ann", note="broken")
    assert on_hand(engine, HEART) == 10 and on_hand(engine, BAG) == 0
    assert len(movements(engine, HEART)) == 1


@pytest.mark.parametrize("bad", [0, -1, 1_000_001, 2.5, True])
def test_absurd_order_quantities_are_refused(engine: Engine, bad: object) -> None:
    with pytest.raises(InvalidStockChange):
        place_order(engine, HEART, bad, actor="assistant")  # type: ignore[arg-type]
    assert on_hand(engine, HEART) == 10


def test_adjustment_needs_an_actor_and_a_note(engine: Engine) -> None:
    with pytest.raises(InvalidStockChange, match="note"):
        adjust_stock(engine, HEART, -1, actor="ann", note="  ")
    with pytest.raises(InvalidStockChange, match="actor"):
        adjust_stock(engine, HEART, -1, actor="", note="damaged")
    moved = adjust_stock(engine, HEART, -2, actor="ann", note="damaged in transit")
    assert (moved.reason, moved.note, moved.on_hand_after) == (MovementReason.ADJUSTMENT, "damaged in transit", 8)


def test_unknown_and_untracked_products_get_their_own_errors(engine: Engine) -> None:
    with pytest.raises(UnknownProduct):
        change_stock(engine, "NOPE", 1, MovementReason.ADJUSTMENT, "ann")
    with pytest.raises(StockNotTracked):
        change_stock(engine, "71053", 1, MovementReason.ADJUSTMENT, "ann")  # in the catalog, not in the stock file


def test_concurrent_orders_never_oversell(engine: Engine) -> None:
    outcomes: list[str] = []

    def order() -> None:
        try:
            place_order(engine, HEART, 1, actor="assistant")
            outcomes.append("sold")
        except InsufficientStock:
            outcomes.append("refused")

    threads = [threading.Thread(target=order) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("sold") == 10 and outcomes.count("refused") == 6
    assert on_hand(engine, HEART) == 0 and ledger_totals(engine)[HEART] == 0


def test_receiving_a_delivery_adds_stock_once(engine: Engine) -> None:
    with engine.connect() as conn:
        delivery = conn.scalar(select(ReplenishmentRow.id).where(ReplenishmentRow.sku == BAG))
    assert delivery is not None
    moved = receive_replenishment(engine, delivery, actor="warehouse")
    assert (moved.sku, moved.delta, moved.reason, moved.reference) == (
        BAG,
        48,
        MovementReason.REPLENISHMENT,
        f"replenishment:{delivery}",
    )
    with pytest.raises(InvalidStockChange):
        receive_replenishment(engine, delivery, actor="warehouse")
    assert on_hand(engine, BAG) == 48


def test_scheduling_refuses_past_dates_and_discontinued_products(engine: Engine) -> None:
    with pytest.raises(InvalidStockChange, match="past"):
        schedule_replenishment(engine, HEART, 12, date(2010, 12, 4), actor="ann", today=AS_OF)
    with pytest.raises(InvalidStockChange, match="discontinued"):
        schedule_replenishment(engine, WARMER, 12, date(2010, 12, 20), actor="ann", today=AS_OF)
    made = schedule_replenishment(engine, HEART, 12, date(2010, 12, 20), actor="ann", today=AS_OF)
    assert made.id and made.expected_on == date(2010, 12, 20)


def test_a_new_load_records_differences_and_keeps_history(engine: Engine) -> None:
    place_order(engine, HEART, 4, actor="assistant")
    report = load_stock(
        engine,
        [StockLevel(HEART, 9, 4, 14), StockLevel(BAG, 5, 6, 7)],
        [],
        source=StockSource.FILES,
        as_of=date(2010, 12, 6),
        actor="tester",
        reference="second",
    )
    assert (report.products, report.movements) == (2, 3)  # heart 6→9, bag 0→5, hand warmers 2→gone
    assert ledger_totals(engine) == {HEART: 9, BAG: 5, WARMER: 0}
    assert on_hand(engine, WARMER) is None
    assert [m.delta for m in movements(engine, HEART)] == [10, -4, 3]


def test_a_load_with_unknown_skus_or_bad_values_changes_nothing(engine: Engine) -> None:
    before = ledger_totals(engine)
    with pytest.raises(InvalidStockFile, match="NOPE"):
        load_stock(
            engine, [StockLevel("NOPE", 1, 0, 1)], [], source=StockSource.FILES, as_of=AS_OF, actor="t", reference="x"
        )
    with pytest.raises(InvalidStockFile, match="before the as-of day"):
        load_stock(
            engine,
            [StockLevel(HEART, 1, 0, 1)],
            [Replenishment(HEART, 5, date(2010, 1, 1))],
            source=StockSource.FILES,
            as_of=AS_OF,
            actor="t",
            reference="x",
        )
    with pytest.raises(InvalidStockFile, match="on_hand -1"):
        load_stock(
            engine, [StockLevel(HEART, -1, 0, 1)], [], source=StockSource.FILES, as_of=AS_OF, actor="t", reference="x"
        )
    assert ledger_totals(engine) == before and on_hand(engine, HEART) == 10


def test_store_today_is_frozen_for_a_simulation_and_real_time_for_files(engine: Engine, sqlite_engine: Engine) -> None:
    assert store_today(engine, today=lambda: date(2030, 1, 1)) == date(2030, 1, 1)
    load_stock(engine, [], [], source=StockSource.SIMULATED, as_of=AS_OF, actor="simulation", reference="sim")
    assert store_today(engine, today=lambda: date(2030, 1, 1)) == AS_OF


def test_store_today_without_any_load_names_the_command(sqlite_engine: Engine) -> None:
    with pytest.raises(StockNotLoaded, match="stock simulate"):
        store_today(sqlite_engine)


def test_store_files_round_trip(tmp_path: Path) -> None:
    (tmp_path / "stock.csv").write_text(
        "sku,on_hand,reorder_point,lead_time_days,discontinued,extra\n85123a,120,40,14,false,x\n22633,0,0,7,yes,\n"
    )
    (tmp_path / "replenishments.csv").write_text("sku,quantity,expected_date\n85123A,96,2010-12-14\n")
    levels, replenishments = read_stock_files(tmp_path)
    assert levels == [StockLevel("85123A", 120, 40, 14, False), StockLevel("22633", 0, 0, 7, True)]
    assert replenishments == [Replenishment("85123A", 96, date(2010, 12, 14))]


def test_store_files_report_every_bad_line(tmp_path: Path) -> None:
    (tmp_path / "stock.csv").write_text(
        "sku,on_hand,reorder_point,lead_time_days\n85123A,lots,40,14\n,1,1,1\n20725,1,1,1\n"
    )
    (tmp_path / "replenishments.csv").write_text("sku,quantity,expected_date\n20725,5,14/12/2010\n")
    with pytest.raises(InvalidStockFile) as caught:
        read_stock_files(tmp_path)
    message = str(caught.value)
    assert "stock.csv:2: on_hand 'lots'" in message
    assert "stock.csv:3: empty sku" in message
    assert "replenishments.csv:2: expected_date" in message


def test_missing_stock_file_or_column_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidStockFile, match=r"stock\.csv not found"):
        read_stock_files(tmp_path)
    (tmp_path / "stock.csv").write_text("sku,on_hand\n85123A,1\n")
    with pytest.raises(InvalidStockFile, match="missing column"):
        read_stock_files(tmp_path)


def test_subscriptions_are_idempotent_and_due_when_back_in_stock(engine: Engine) -> None:
    first = subscribe(engine, "shopper-1", "rest", BAG)
    assert subscribe(engine, "shopper-1", "rest", BAG).id == first.id
    with pytest.raises(UnknownProduct):
        subscribe(engine, "shopper-1", "rest", "NOPE")
    assert due_subscriptions(engine) == []  # bags are out of stock
    with engine.connect() as conn:
        delivery = conn.scalar(select(ReplenishmentRow.id).where(ReplenishmentRow.sku == BAG))
    assert delivery is not None
    receive_replenishment(engine, delivery, actor="warehouse")
    due = due_subscriptions(engine)
    assert [(s.sender_id, s.channel, s.sku) for s in due] == [("shopper-1", "rest", BAG)]
    assert mark_notified(engine, [s.id for s in due]) == 1
    assert due_subscriptions(engine) == []
    assert subscribe(engine, "shopper-1", "rest", BAG).id != first.id  # asking again after the message: a new one
