"""`action_search_products` with an injected fake search, and with the real catalog + FAISS index."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.search import ActionSearchProducts, search_query
from catalog.types import Product
from retrieval.errors import RetrievalUnavailable
from retrieval.search import SearchHit
from tests.actions.conftest import make_tracker
from tests.retrieval.fakes import KeywordProductSearch

PRODUCTS = [
    Product(1, "20725", "LUNCH BAG RED RETROSPOT", Decimal("1.65")),
    Product(2, "85099B", "JUMBO BAG RED RETROSPOT", Decimal("2.08")),
    Product(3, "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", Decimal("2.95")),
]


class BrokenSearch:
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        raise RetrievalUnavailable("index file is corrupt")


async def run_action(action: ActionSearchProducts, text: str, **kwargs: object) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(text, **kwargs), domain={})  # type: ignore[arg-type]
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    shown = [p["sku"] for m in dispatcher.messages if m.get("custom") for p in m["custom"]["products"]]
    if shown:  # "the second one" refers to what was shown, in order
        assert slots["shown_products"] == shown and slots["last_query"]
    elif not slots:
        assert events == []
    return dispatcher


def test_query_prefers_the_product_entity_and_falls_back_to_the_text() -> None:
    entity = {"entity": "product", "value": "red retrospot lunch bags", "start": 12, "end": 36}
    assert search_query(make_tracker("do you have red retrospot lunch bags?", [entity])) == "red retrospot lunch bags"
    assert search_query(make_tracker("  lunch   bags  ")) == "lunch bags"
    assert search_query(make_tracker("cake", [{"entity": "colour", "value": "red"}])) == "cake"


async def test_results_become_a_text_and_product_cards_on_the_web_channel() -> None:
    action = ActionSearchProducts(KeywordProductSearch(PRODUCTS), top_k=2)
    dispatcher = await run_action(action, "red retrospot lunch bag")
    first, cards = dispatcher.messages
    assert first["response"] == "utter_search_results" and first["query"] == "red retrospot lunch bag"
    products = cards["custom"]["products"]
    assert cards["custom"]["type"] == "product_cards" and len(products) == 2
    assert products[0] == {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "currency": "GBP"}


async def test_channels_without_cards_get_text_lines() -> None:
    action = ActionSearchProducts(KeywordProductSearch(PRODUCTS), top_k=3)
    dispatcher = await run_action(action, "heart holder", channel="cmdline")
    [message] = dispatcher.messages
    assert message["response"] == "utter_search_results_text"
    assert "1. White Hanging Heart T-Light Holder — £2.95 (item 85123A)" in message["result_lines"]


async def test_nothing_found_has_its_own_response() -> None:
    dispatcher = await run_action(ActionSearchProducts(KeywordProductSearch(PRODUCTS)), "submarine")
    assert [m["response"] for m in dispatcher.messages] == ["utter_search_no_results"]
    assert dispatcher.messages[0]["query"] == "submarine"


async def test_retrieval_failure_answers_unavailable_instead_of_crashing() -> None:
    dispatcher = await run_action(ActionSearchProducts(BrokenSearch()), "lunch bag")
    assert [m["response"] for m in dispatcher.messages] == ["utter_search_unavailable"]


@pytest.mark.slow
async def test_real_index_finds_the_red_retrospot_lunch_bag() -> None:
    settings = services.settings()
    if not settings.index_path.exists():
        pytest.fail(f"no product index at {settings.index_path}; run `make build` (make test does it first)")
    dispatcher = await run_action(ActionSearchProducts(top_k=5), "do you have red retrospot lunch bags?")
    cards = dispatcher.messages[1]["custom"]["products"]
    assert "20725" in [c["sku"] for c in cards]  # LUNCH BAG RED RETROSPOT
    assert all(c["price"].count(".") == 1 for c in cards)
