"""`action_check_stock` with injected fakes (every stock state) and with the real catalog, index and stock tables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.stock import ActionCheckStock, ActionSubscribeBackInStock, mentioned_sku, stock_messages
from catalog.errors import CatalogUnavailable
from catalog.stock import Restock, StockState, StockStatus
from catalog.types import Product
from tests.actions.conftest import make_tracker
from tests.retrieval.fakes import KeywordProductSearch

TODAY = date(2011, 11, 1)
BAG = Product(1, "20725", "LUNCH BAG RED RETROSPOT", Decimal("1.65"))
HEART = Product(3, "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", Decimal("2.95"))


class FakeStock:
    def __init__(self, statuses: dict[str, StockStatus]) -> None:
        self.by_sku = statuses
        self.asked: list[str] = []

    def status(self, sku: str) -> StockStatus:
        self.asked.append(sku)
        return self.by_sku[sku]

    def statuses(self, skus: list[str]) -> dict[str, StockStatus]:
        return {sku: self.by_sku[sku] for sku in skus if sku in self.by_sku}


class FakeProducts:
    def get_by_sku(self, sku: str) -> Product | None:
        return {p.sku: p for p in (BAG, HEART)}.get(sku)


class BrokenStock:
    def status(self, sku: str) -> StockStatus:
        raise CatalogUnavailable("database is locked")


def status(state: StockState, **fields: object) -> StockStatus:
    return StockStatus(sku="20725", title="LUNCH BAG RED RETROSPOT", state=state, today=TODAY, **fields)  # type: ignore[arg-type]


def action(stock: object) -> ActionCheckStock:
    return ActionCheckStock(KeywordProductSearch([BAG, HEART]), stock, FakeProducts())  # type: ignore[arg-type]


async def run(act: ActionCheckStock, text: str, entities: list[dict[str, Any]] | None = None) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    events = await act.run(dispatcher, make_tracker(text, entities), domain={})
    answered = [m["custom"]["products"][0]["sku"] for m in dispatcher.messages if m.get("custom")]
    # the product answered about becomes the one "it" refers to next
    assert events == [{"event": "slot", "timestamp": None, "name": "current_product", "value": sku} for sku in answered]
    return dispatcher


def test_item_numbers_are_found_in_the_message() -> None:
    assert mentioned_sku("is 85123a in stock?") == "85123A"
    assert mentioned_sku("how many of item 20725 are left") == "20725"
    assert mentioned_sku("is the red lunch bag in stock") is None
    assert mentioned_sku("call 0123456789") is None


@pytest.mark.parametrize(
    ("state", "fields", "expected"),
    [
        (StockState.IN_STOCK, {"on_hand": 120}, ["utter_stock_in_stock"]),
        (StockState.IN_STOCK, {"on_hand": 12, "sellout_days": 4}, ["utter_stock_in_stock", "utter_stock_pace"]),
        (
            StockState.LOW,
            {"on_hand": 3, "next_restock": Restock(date(2011, 12, 3), 48)},
            ["utter_stock_low", "utter_stock_restock_planned"],
        ),
        (
            StockState.OUT_OF_STOCK,
            {"on_hand": 0, "next_restock": Restock(date(2011, 12, 3), 48)},
            ["utter_stock_out_restock"],
        ),
        (StockState.OUT_OF_STOCK, {"on_hand": 0}, ["utter_stock_out_no_date"]),
        (StockState.DISCONTINUED, {"on_hand": 0}, ["utter_stock_discontinued"]),
        (StockState.UNKNOWN, {}, ["utter_stock_unknown"]),
    ],
)
def test_each_state_has_its_own_answer(state: StockState, fields: dict[str, object], expected: list[str]) -> None:
    assert [m["response"] for m in stock_messages(status(state, **fields))] == expected


def test_restock_and_counts_are_filled_in() -> None:
    [message] = stock_messages(status(StockState.OUT_OF_STOCK, on_hand=0, next_restock=Restock(date(2011, 12, 3), 48)))
    assert message["title"] == "Lunch Bag Red Retrospot" and message["restock_date"] == "3 Dec"


async def test_a_named_product_is_found_by_search_and_answered_with_a_card() -> None:
    stock = FakeStock({"20725": status(StockState.IN_STOCK, on_hand=120)})
    entity = {"entity": "product", "value": "red retrospot lunch bag"}
    dispatcher = await run(action(stock), "is the red retrospot lunch bag in stock?", [entity])
    assert stock.asked == ["20725"]
    assert dispatcher.messages[0]["response"] == "utter_stock_in_stock" and dispatcher.messages[0]["on_hand"] == 120
    assert dispatcher.messages[-1]["custom"]["products"][0]["sku"] == "20725"


async def test_an_item_number_wins_over_search() -> None:
    stock = FakeStock({"85123A": status(StockState.DISCONTINUED, on_hand=0)})
    await run(action(stock), "is 85123a in stock? it's like the lunch bag")
    assert stock.asked == ["85123A"]


async def test_nothing_to_look_up_asks_which_product() -> None:
    stock = FakeStock({})
    dispatcher = await run(action(stock), "is the submarine in stock?")
    assert [m["response"] for m in dispatcher.messages] == ["utter_stock_which_product"] and stock.asked == []


async def test_a_broken_stock_service_answers_unavailable() -> None:
    dispatcher = await run(action(BrokenStock()), "is the red retrospot lunch bag in stock?")
    assert [m["response"] for m in dispatcher.messages] == ["utter_stock_unavailable"]


@pytest.mark.slow
async def test_real_stock_of_the_red_retrospot_lunch_bag() -> None:
    if not services.settings().index_path.exists():
        pytest.fail("no product index; run `make build` (make test does it first)")
    dispatcher = await run(ActionCheckStock(), "is 20725 in stock?")
    first = dispatcher.messages[0]
    assert first["response"].startswith("utter_stock_") and first["title"] == "Lunch Bag Red Retrospot"
    assert dispatcher.messages[-1]["custom"]["products"][0]["sku"] == "20725"


async def test_out_of_stock_offers_in_stock_alternatives_and_an_alert() -> None:
    gone = StockStatus(sku="85123A", title=HEART.title, state=StockState.OUT_OF_STOCK, today=TODAY, on_hand=0)
    red = Product(5, "21733", "RED HANGING HEART T-LIGHT HOLDER", Decimal("2.95"))
    stock = FakeStock({"85123A": gone, "21733": status(StockState.IN_STOCK, on_hand=40)})
    search = KeywordProductSearch([BAG, HEART, red, Product(4, "99999", "HEART T-LIGHT", Decimal("1"))])
    act = ActionCheckStock(search, stock, FakeProducts())  # type: ignore[arg-type]
    dispatcher = CollectingDispatcher()
    await act.run(dispatcher, make_tracker("is 85123A in stock?"), domain={})
    responses = [m.get("response") for m in dispatcher.messages]
    assert responses[0] == "utter_stock_out_no_date" and responses[-1] == "utter_offer_restock_alert"
    alternatives = [m["custom"]["products"] for m in dispatcher.messages if m.get("custom")][1]
    assert [p["sku"] for p in alternatives] == ["21733"]  # in stock; the one without a stock record is left out


async def test_restock_alert_subscribes_the_product_the_conversation_is_about(tmp_path: Any) -> None:
    from catalog.db import make_engine
    from catalog.inventory import due_subscriptions
    from catalog.migrate import upgrade
    from tests.catalog.conftest import write_tiny_store

    write_tiny_store(tmp_path / "store")
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    upgrade(engine)
    from datetime import date as day

    from catalog.ingest import import_online_retail
    from catalog.inventory import StockLevel, StockSource, load_stock

    import_online_retail(engine, tmp_path / "store", progress=False)
    load_stock(engine, [StockLevel("85123A", 0, 4, 7)], [], source=StockSource.FILES, as_of=day(2010, 12, 9),
               actor="t", reference="t")  # fmt: skip
    act = ActionSubscribeBackInStock(FakeProducts(), engine)
    dispatcher = CollectingDispatcher()
    await act.run(dispatcher, make_tracker("tell me when it's back", slots={"current_product": "85123A"}), domain={})
    assert dispatcher.messages[0]["response"] == "utter_restock_alert_set"
    assert due_subscriptions(engine) == []  # pending until the product is back
