"""The search actions over a real hybrid search (BM25 + FAISS, hashing encoder) of the sample products, and with the
real catalog + index."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.search import (
    ActionRefineSearch,
    ActionSearchProducts,
    filters_from_slot,
    filters_to_slot,
    search_query,
)
from catalog.attributes import derive_attributes
from catalog.stock import StockState, StockStatus
from catalog.types import Product
from retrieval.errors import RetrievalUnavailable
from retrieval.hybrid import HybridProductSearch, SearchRequest, SearchResult, SearchSnapshot
from retrieval.index import VectorIndex
from retrieval.query import Filters
from retrieval.search import product_text
from tests.actions.conftest import make_tracker
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder


def with_attributes(p: Product) -> Product:
    a = derive_attributes(p.title)
    return dataclasses.replace(
        p, category=a.category.value, subcategory=a.subcategory, colours=a.colours, patterns=a.patterns
    )


PRODUCTS = tuple(with_attributes(p) for p in SAMPLE_PRODUCTS)
BY_SKU = {p.sku: p for p in PRODUCTS}


class Catalog:
    def get_by_sku(self, sku: str) -> Product | None:
        return BY_SKU.get(sku)


def hybrid() -> HybridProductSearch:
    encoder = HashingEncoder(dim=64)
    index = VectorIndex.build([p.id for p in PRODUCTS], encoder.encode([product_text(p) for p in PRODUCTS]))
    return HybridProductSearch(SearchSnapshot.build(PRODUCTS, index), encoder)


class BrokenSearch:
    def find(self, request: SearchRequest) -> SearchResult:
        raise RetrievalUnavailable("index file is corrupt")

    def parse(self, text: str, base: Filters | None = None) -> Any:
        raise RetrievalUnavailable("index file is corrupt")


async def run_action(
    action: Any, text: str, entities: list[dict[str, Any]] | None = None, **kwargs: Any
) -> tuple[CollectingDispatcher, dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(text, entities, **kwargs), domain={})
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    shown = [p["sku"] for m in dispatcher.messages if m.get("custom") for p in m["custom"]["products"]]
    if shown:  # "the second one" refers to what was shown, in order
        assert slots["shown_products"] == shown and slots["last_query"]
    return dispatcher, slots


def card_skus(dispatcher: CollectingDispatcher) -> list[str]:
    return [p["sku"] for m in dispatcher.messages if m.get("custom") for p in m["custom"]["products"]]


def test_query_prefers_the_product_entity_and_falls_back_to_the_text() -> None:
    entity = {"entity": "product", "value": "red retrospot lunch bags", "start": 12, "end": 36}
    assert search_query(make_tracker("do you have red retrospot lunch bags?", [entity])) == "red retrospot lunch bags"
    assert search_query(make_tracker("  lunch   bags  ")) == "lunch bags"
    assert search_query(make_tracker("cake", [{"entity": "colour", "value": "red"}])) == "cake"


def few_left(skus: Sequence[str]) -> dict[str, StockStatus]:
    """Stock for the cards' badges: 3 red lunch bags left, nothing known of the rest."""
    return {"20725": StockStatus("20725", "LUNCH BAG RED RETROSPOT", StockState.LOW, date(2011, 12, 9), on_hand=3)}


async def test_results_become_a_text_and_product_cards_with_stock_badges_on_the_web_channel() -> None:
    action = ActionSearchProducts(hybrid(), top_k=2, stock=few_left)
    dispatcher, slots = await run_action(action, "red retrospot lunch bag")
    first, cards = dispatcher.messages[:2]
    assert first["response"] == "utter_search_results" and "lunch bag" in first["query"]
    products = cards["custom"]["products"]
    assert cards["custom"]["type"] == "product_cards" and len(products) == 2
    assert products[0] == {
        "sku": "20725",
        "title": "LUNCH BAG RED RETROSPOT",
        "price": "1.65",
        "currency": "GBP",
        "stock": {"level": "low", "label": "Only 3 left"},
    }
    assert "stock" not in products[1]  # unknown stock: no badge rather than a wrong one
    assert slots["search_offset"] == 2 and slots["search_result_count"] == 2.0


async def test_a_search_that_finds_nothing_is_recorded_for_the_staff_insight_page() -> None:
    _, slots = await run_action(ActionSearchProducts(hybrid(), top_k=2, stock=few_left), "zzqx vorpal grommets")
    assert slots["search_result_count"] == 0.0 and slots["last_query"]


async def test_channels_without_cards_get_text_lines() -> None:
    dispatcher, _ = await run_action(ActionSearchProducts(hybrid(), top_k=3), "heart holder", channel="cmdline")
    message = dispatcher.messages[0]
    assert message["response"] == "utter_search_results_text"
    assert "White Hanging Heart T-Light Holder — £2.95 (item 85123A)" in message["result_lines"]


async def test_a_price_in_the_message_filters_the_results() -> None:
    dispatcher, slots = await run_action(ActionSearchProducts(hybrid(), top_k=5), "lunch bags under £1.70")
    assert card_skus(dispatcher) and all(BY_SKU[s].price < 1.70 for s in card_skus(dispatcher))
    assert filters_from_slot(slots["search_filters"]).price_max is not None


async def test_refinements_keep_the_earlier_constraints() -> None:
    search = hybrid()
    _, first = await run_action(ActionSearchProducts(search, top_k=3), "retrospot")
    refine = ActionRefineSearch(search, top_k=3, products=Catalog())
    shown_prices = [BY_SKU[s].price for s in first["shown_products"]]
    dispatcher, cheaper = await run_action(refine, "anything cheaper?", intent="refine_search", slots=first)
    assert card_skus(dispatcher) and all(BY_SKU[s].price < min(shown_prices) for s in card_skus(dispatcher))
    dispatcher, more = await run_action(refine, "show more", intent="refine_search", slots=first)
    assert not set(card_skus(dispatcher)) & set(first["shown_products"])  # the next page
    assert more["search_offset"] == first["search_offset"] + len(card_skus(dispatcher))
    dispatcher, _ = await run_action(refine, "in red", intent="refine_search", slots=first)
    assert card_skus(dispatcher) and all("red" in BY_SKU[s].colours for s in card_skus(dispatcher))
    assert cheaper["search_filters"] != first["search_filters"]


async def test_a_contradiction_is_explained() -> None:
    dispatcher, _ = await run_action(ActionSearchProducts(hybrid()), "bags under £2 and over £10")
    assert dispatcher.messages[0]["response"] == "utter_search_contradiction"


async def test_an_emptied_search_names_the_constraint_and_offers_to_drop_it() -> None:
    dispatcher, slots = await run_action(ActionSearchProducts(hybrid()), "regency cakestand under £1")
    [message] = dispatcher.messages
    assert "leaves nothing" in message["text"] and message["buttons"][0]["payload"].startswith("/refine_search")
    relax = {"entity": "relax", "value": "price"}
    refine = ActionRefineSearch(hybrid(), products=Catalog())
    payload = message["buttons"][0]["payload"]
    dispatcher, _ = await run_action(refine, payload, entities=[relax], intent="refine_search", slots=slots)
    assert "22423" in card_skus(dispatcher)


def test_filters_survive_the_slot_and_junk_is_dropped() -> None:
    filters = Filters(price_max=Decimal("5"), colours=frozenset({"red"}), in_stock=True)
    assert filters_from_slot(filters_to_slot(filters)) == filters
    assert filters_from_slot({"price_max": "NaN", "colours": [1, "x" * 100], "in_stock": "yes"}) == Filters()
    assert filters_from_slot("garbage") == Filters()


async def test_a_broken_search_says_search_is_unavailable() -> None:
    dispatcher, _ = await run_action(ActionSearchProducts(BrokenSearch()), "lunch bags")
    assert [m["response"] for m in dispatcher.messages] == ["utter_search_unavailable"]


@pytest.mark.slow
async def test_real_search_finds_the_red_retrospot_lunch_bag() -> None:
    if not services.settings().index_path.exists():
        pytest.fail("no product index; run `make build` (make test does it first)")
    dispatcher, _ = await run_action(ActionSearchProducts(), "do you have red retrospot lunch bags?")
    titles = [p["title"] for m in dispatcher.messages if m.get("custom") for p in m["custom"]["products"]]
    assert any(all(w in t for w in ("RED", "RETROSPOT", "LUNCH BAG")) for t in titles), titles


async def test_the_answer_echoes_the_shoppers_words_without_filler() -> None:
    dispatcher, _ = await run_action(ActionSearchProducts(hybrid()), "do you have any red lunch bags?")
    assert dispatcher.messages[0]["query"] == "lunch bags (colour: red)"
    dispatcher, _ = await run_action(ActionSearchProducts(hybrid()), "hanging heart tea light holder")
    assert dispatcher.messages[0]["query"] == "hanging heart tea light holder"  # not "... holder tealight"
    assert not [m for m in dispatcher.messages if m["response"] == "utter_search_corrected"]  # both were searched
    dispatcher, _ = await run_action(ActionSearchProducts(hybrid()), "retrosopt lunch bag")
    said = [(m["wrote"], m["fixed"]) for m in dispatcher.messages if m["response"] == "utter_search_corrected"]
    assert said == [("retrosopt", "retrospot")]


async def test_nothing_cheaper_is_said_so_and_the_cards_on_screen_can_still_be_named() -> None:
    search = hybrid()
    _, first = await run_action(ActionSearchProducts(search, top_k=3), "red retrospot lunch bag")
    refine = ActionRefineSearch(search, top_k=3, products=Catalog())
    dispatcher, emptied = await run_action(refine, "cheaper", intent="refine_search", slots=first)
    [message] = dispatcher.messages
    assert message["text"].endswith("there is nothing cheaper than what I showed.")
    assert message["buttons"] and "shown_products" not in emptied  # the slot keeps the cards still on screen
