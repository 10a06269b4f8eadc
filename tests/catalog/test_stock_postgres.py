"""Stock and forecasts on PostgreSQL (COPY for forecasts, RETURNING, CHECK constraints, serial ids, concurrency)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from catalog.db import make_engine
from catalog.forecast_store import make_forecasts, read_forecasts
from catalog.ingest import import_online_retail
from catalog.inventory import (
    InsufficientStock,
    MovementReason,
    change_stock,
    ledger_totals,
    place_order,
    schedule_replenishment,
    subscribe,
)
from catalog.migrate import upgrade
from catalog.stock import StockService, StockState
from catalog.stock_simulation import simulate_stock

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_stock_and_forecasts_on_postgres(postgres_url: str, tiny_store: Path) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    import_online_retail(engine, tiny_store, progress=False)
    report = simulate_stock(engine)
    assert report.products == 5 and simulate_stock(engine).skipped
    run = make_forecasts(engine)
    assert run.products >= 2 and read_forecasts(engine, None, run.first_day)
    service = StockService(engine)
    assert service.today() == date(2010, 12, 5)
    statuses = service.statuses(None)
    assert len(statuses) == 5 and all(isinstance(s.state, StockState) for s in statuses.values())

    heart = statuses["85123A"]
    assert heart.on_hand is not None and heart.state is not StockState.DISCONTINUED
    if heart.on_hand != 10:
        change_stock(engine, "85123A", 10 - heart.on_hand, MovementReason.COUNT, actor="test")
    outcomes: list[str] = []

    def order() -> None:
        try:
            place_order(engine, "85123A", 1, actor="assistant")
            outcomes.append("sold")
        except InsufficientStock:
            outcomes.append("refused")

    threads = [threading.Thread(target=order) for _ in range(14)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("sold") == 10 and ledger_totals(engine)["85123A"] == 0
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the CHECK constraint backs the code up
        conn.execute(text("UPDATE stock_levels SET on_hand = -1 WHERE sku = '85123A'"))
    made = schedule_replenishment(engine, "85123A", 12, date(2010, 12, 20), actor="ann", today=date(2010, 12, 5))
    assert made.id and made.id > 0
    assert subscribe(engine, "s-1", "rest", "85123A").id > 0
    engine.dispose()
