"""`action_recommend` over a fake recommender and catalog: which list answers which request, and why."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.products import ActionRecommend
from catalog.types import Product
from recsys.recommender import ReasonKind, Recommendation
from recsys.service import CustomerRecommendations
from tests.actions.conftest import make_tracker

MUG = Product(1, "21000", "RED SPOTTY MUG", Decimal("1.25"), category="mugs_cups")
CUP = Product(2, "21001", "BLUE TEACUP", Decimal("2.50"), category="mugs_cups")
CANDLE = Product(3, "21002", "VANILLA CANDLE", Decimal("0.85"), category="candles")
BAG = Product(4, "20725", "LUNCH BAG RED RETROSPOT", Decimal("1.65"), category="bags")
ALL = {p.id: p for p in (MUG, CUP, CANDLE, BAG)}


def rec(product: Product, reason: str = "", kind: ReasonKind = ReasonKind.POPULAR) -> Recommendation:
    return Recommendation(product.id, 1.0, reason, kind)


class FakeRecommender:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def knows(self, customer_id: object) -> bool:
        return customer_id == "12346"

    def for_customer(self, customer_id: object, k: int = 10, viewed: Sequence[object] = (),
                     exclude: Collection[object] = ()) -> CustomerRecommendations:  # fmt: skip
        self.calls.append(("for_customer", (customer_id, list(viewed), list(exclude))))
        if customer_id == "12346":
            return CustomerRecommendations(True, [rec(BAG, "you bought it before")], [rec(CUP, "because you bought X")])
        return CustomerRecommendations(False, [], [rec(CANDLE, "bought by customers of what you viewed")])

    def similar_to(self, product_id: object, k: int = 10) -> list[Recommendation]:
        self.calls.append(("similar_to", product_id))
        return [rec(CUP, "customers who bought it also bought this")]

    def bought_together(self, product_ids: Sequence[object], k: int = 10) -> list[Recommendation]:
        self.calls.append(("bought_together", list(product_ids)))
        return [rec(CANDLE, "often bought with it")]

    def popular(self, k: int = 10, exclude: Collection[object] = ()) -> list[Recommendation]:
        self.calls.append(("popular", list(exclude)))
        return [rec(p) for p in (BAG, CANDLE, MUG, CUP) if p.id not in set(exclude)][:k]


class FakeCatalog:
    def get_by_sku(self, sku: str) -> Product | None:
        return next((p for p in ALL.values() if p.sku == sku), None)

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        return {i: ALL[i] for i in ids if i in ALL}


async def run(
    text: str, basket: list[str] | None = None, **kwargs: Any
) -> tuple[FakeRecommender, CollectingDispatcher]:
    recommender = FakeRecommender()
    action = ActionRecommend(recommender, FakeCatalog(), basket=lambda sender: basket or [])
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, make_tracker(text, **kwargs), {})
    return recommender, dispatcher


def cards(dispatcher: CollectingDispatcher) -> list[str]:
    return [p["sku"] for m in dispatcher.messages if m.get("custom") for p in m["custom"]["products"]]


async def test_similar_to_the_second_one_and_what_goes_with_it() -> None:
    shown = {"shown_products": ["21000", "21002"]}
    second = [{"entity": "ordinal", "value": "2"}]
    recommender, dispatcher = await run("anything similar to the second one?", entities=second, slots=shown)
    assert recommender.calls == [("similar_to", 3)] and cards(dispatcher) == ["21001"]
    assert "Similar to Vanilla Candle" in dispatcher.messages[0]["intro"]
    assert "customers who bought it also bought this" in dispatcher.messages[-1]["text"]
    recommender, _ = await run("what goes with it?", slots={"current_product": "20725"})
    assert recommender.calls == [("bought_together", [4])]


async def test_a_verified_customer_gets_personal_picks_without_what_is_in_the_basket() -> None:
    slots = {"customer_id": "12346", "customer_verified": True}
    recommender, dispatcher = await run("what would you recommend?", basket=["21000"], slots=slots)
    assert recommender.calls == [("for_customer", ("12346", [], [1]))]
    assert cards(dispatcher) == ["21001", "20725"]
    unverified = {"customer_id": "12346", "customer_verified": False}
    recommender, _ = await run("what would you recommend?", slots=unverified)
    assert recommender.calls[0][0] == "popular"  # a claimed but unproven customer number gets no personal list


async def test_cold_start_uses_the_browsed_category_then_viewed_items_then_popular() -> None:
    _, dispatcher = await run("what would you recommend?", slots={"search_filters": {"categories": ["mugs_cups"]}})
    assert cards(dispatcher) == ["21000", "21001"] and "mugs" in dispatcher.messages[0]["intro"].lower()
    _, dispatcher = await run("any ideas?", slots={"shown_products": ["21002"]})
    assert cards(dispatcher) == ["21002"] and "popular in candles" in dispatcher.messages[0]["intro"].lower()
    recommender, dispatcher = await run("what's popular?", basket=["20725"])
    assert cards(dispatcher) == ["21002", "21000", "21001"] and recommender.calls == [("popular", [4])]


async def test_text_channels_get_reasons_in_the_lines() -> None:
    slots = {"customer_id": "12346", "customer_verified": True}
    _, dispatcher = await run("recommend me something", channel="cmdline", slots=slots)
    assert "1. Blue Teacup — £2.50 (item 21001) — because you bought X" in dispatcher.messages[-1]["text"]
