"""Builders for rasa-sdk trackers, as the action server would receive them from Rasa, and a small real shop."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from sqlalchemy import Engine

from catalog.db import make_engine
from catalog.ingest import import_online_retail
from catalog.inventory import StockLevel, StockSource, load_stock
from catalog.migrate import upgrade
from catalog.shop import ShopService
from tests.catalog.conftest import write_tiny_store


def make_tracker(
    text: str,
    entities: list[dict[str, Any]] | None = None,
    channel: str = "rest",
    *,
    intent: str = "search_products",
    slots: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    sender_id: str = "test-shopper",
) -> Tracker:
    """A tracker whose latest message is `text`; `history` holds earlier events (oldest first)."""
    parse = {"text": text, "intent": {"name": intent, "confidence": 0.98}, "entities": entities or []}
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=parse,
        events=[*(history or []), {"event": "user", "text": text, "parse_data": parse, "input_channel": channel}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def user_event(text: str, intent: str, sentiment: str | None = None) -> dict[str, Any]:
    entities = [{"entity": "sentiment", "value": sentiment, "confidence_entity": 0.9}] if sentiment else []
    parse = {"text": text, "intent": {"name": intent}, "entities": entities}
    return {"event": "user", "text": text, "parse_data": parse}


@pytest.fixture
def shop_engine(tmp_path: Path) -> Engine:
    """The catalog tests' tiny store (real SQLite, real migrations) with stock: 10 hearts, no bags, 3 lanterns."""
    write_tiny_store(tmp_path / "store")
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    import_online_retail(engine, tmp_path / "store", progress=False)
    load_stock(
        engine,
        [StockLevel("85123A", 10, 4, 14), StockLevel("20725", 0, 6, 7), StockLevel("71053", 3, 1, 7)],
        [],
        source=StockSource.SIMULATED,
        as_of=date(2010, 12, 10),
        actor="tester",
        reference="test",
    )
    return engine


@pytest.fixture
def shop(shop_engine: Engine) -> ShopService:
    return ShopService(shop_engine)
