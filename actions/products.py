"""About products already shown: `action_product_details`, `action_compare_products`; and `action_recommend`
(personal for a verified customer, "similar to the second one", "what goes with it", else popular picks)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context, replies, services
from actions.base import ShopAction
from actions.orders import verified_customer
from actions.search import first_search_hit
from catalog.attributes import CATEGORY_LABELS, Category
from catalog.errors import CatalogError
from catalog.stock import StockState, StockStatus
from catalog.types import Product
from recsys.errors import RecsysError
from recsys.recommender import Recommendation
from recsys.service import CustomerRecommendations
from retrieval.errors import RetrievalError

logger = logging.getLogger(__name__)

RECOMMEND_K = 5
CATEGORY_POOL = 300
"""Popular products scanned for a category's best sellers (the cold start for a shopper browsing a category)."""
TOGETHER_WORDS = ("goes with", "go with", "bought with", "also bought", "buy with", "matches", "match")


def stock_line(status: StockStatus | None) -> str:
    if status is None or status.state is StockState.UNKNOWN:
        return "I don't have its stock level right now."
    if status.state is StockState.DISCONTINUED:
        return "It has been discontinued."
    if not status.available:
        return "It's out of stock at the moment."
    if status.state is StockState.LOW:
        return f"In stock, but only {status.on_hand} left."
    return f"In stock ({status.on_hand} available)."


def products_by_sku(skus: list[str]) -> list[Product]:
    repository = services.products()
    found = [repository.get_by_sku(sku) for sku in skus]
    return [p for p in found if p is not None]


def stock_status(sku: str) -> StockStatus | None:
    try:
        return services.stock().status(sku)
    except CatalogError:
        return None


class ActionProductDetails(ShopAction):
    def name(self) -> str:
        return "action_product_details"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            skus = await asyncio.to_thread(context.referenced_skus, tracker, first_search_hit, 1)
            products = await asyncio.to_thread(products_by_sku, skus)
            if not products:
                dispatcher.utter_message(response="utter_which_product")
                return []
            product = products[0]
            status = await asyncio.to_thread(stock_status, product.sku)
        except (CatalogError, RetrievalError) as exc:
            logger.error("product details failed: %s", exc)
            dispatcher.utter_message(response="utter_search_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_product_details",
            title=product.title.title(),
            sku=product.sku,
            price=f"{product.price:.2f}",
            stock_line=stock_line(status),
        )
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            dispatcher.utter_message(
                json_message=replies.product_cards([product], {product.sku: status} if status else None)
            )
        return [SlotSet("current_product", product.sku)]


def comparison(
    first: Product, second: Product, first_stock: StockStatus | None, second_stock: StockStatus | None
) -> str:
    lines = [
        f"1. {first.title.title()} (item {first.sku}): £{first.price:.2f}. {stock_line(first_stock)}",
        f"2. {second.title.title()} (item {second.sku}): £{second.price:.2f}. {stock_line(second_stock)}",
    ]
    if first.price == second.price:
        lines.append("They cost the same.")
    else:
        cheaper, dearer = (first, second) if first.price < second.price else (second, first)
        lines.append(f"{cheaper.title.title()} is £{dearer.price - cheaper.price:.2f} cheaper.")
    return "\n".join(lines)


class ActionCompareProducts(ShopAction):
    def name(self) -> str:
        return "action_compare_products"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            skus = await asyncio.to_thread(context.referenced_skus, tracker, first_search_hit, 2)
            if len(skus) < 2:
                shown = context.shown_skus(tracker)
                skus = (skus + [s for s in shown if s not in skus])[:2]
            products = await asyncio.to_thread(products_by_sku, skus)
            if len(products) < 2:
                dispatcher.utter_message(text="Which two should I compare? Say e.g. “compare the first and third”.")
                return []
            statuses = [await asyncio.to_thread(stock_status, p.sku) for p in products[:2]]
        except (CatalogError, RetrievalError) as exc:
            logger.error("compare failed: %s", exc)
            dispatcher.utter_message(response="utter_search_unavailable")
            return []
        dispatcher.utter_message(
            response="utter_compare", comparison=comparison(products[0], products[1], statuses[0], statuses[1])
        )
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            by_sku = {p.sku: s for p, s in zip(products[:2], statuses, strict=True) if s is not None}
            dispatcher.utter_message(json_message=replies.product_cards(products[:2], by_sku))
        return []


class Recommendations(Protocol):
    """What `action_recommend` needs (`recsys.service.RecommendationService` is one)."""

    def knows(self, customer_id: object) -> bool: ...

    def for_customer(
        self, customer_id: object, k: int = 10, viewed: Sequence[object] = (), exclude: Collection[object] = ()
    ) -> CustomerRecommendations: ...

    def similar_to(self, product_id: object, k: int = 10) -> list[Recommendation]: ...

    def bought_together(self, product_ids: Sequence[object], k: int = 10) -> list[Recommendation]: ...

    def popular(self, k: int = 10, exclude: Collection[object] = ()) -> list[Recommendation]: ...


class Catalog(Protocol):
    def get_by_sku(self, sku: str) -> Product | None: ...

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]: ...


def browsed_category(tracker: Tracker, catalog: Catalog) -> str | None:
    """The category the shopper is browsing: the last search's category filter, else the commonest category among
    the products shown last."""
    filters = tracker.get_slot("search_filters")
    if isinstance(filters, dict) and isinstance(filters.get("categories"), list) and filters["categories"]:
        return str(filters["categories"][0])
    shown = [catalog.get_by_sku(sku) for sku in context.shown_skus(tracker)]
    categories = [p.category for p in shown if p is not None and p.category and p.category != "other"]
    return Counter(categories).most_common(1)[0][0] if categories else None


class ActionRecommend(ShopAction):
    def __init__(
        self,
        recommendations: Recommendations | None = None,
        catalog: Catalog | None = None,
        basket: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._recommendations = recommendations
        self._catalog = catalog
        self._basket = basket

    def name(self) -> str:
        return "action_recommend"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = context.message_text(tracker).lower()
        try:
            intro, recommendations = await asyncio.to_thread(self._recommend, tracker, text)
            ids = [r.product_id for r in recommendations]
            found = await asyncio.to_thread(self.catalog().get_many, ids)
        except (RecsysError, CatalogError, RetrievalError) as exc:
            logger.error("recommendations failed: %s", exc)
            dispatcher.utter_message(response="utter_recommendations_unavailable")
            return []
        picked = [(r, found[r.product_id]) for r in recommendations if r.product_id in found]
        if not picked:
            dispatcher.utter_message(response="utter_recommendations_unavailable")
            return []
        products = [p for _, p in picked]
        dispatcher.utter_message(response="utter_recommendations", intro=intro)
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            stock = await asyncio.to_thread(services.card_stock, [p.sku for p in products])
            dispatcher.utter_message(json_message=replies.product_cards(products, stock))
            reasons = [f"{p.title.title()}: {r.reason}" for r, p in picked[:3] if r.reason]
            if reasons:
                dispatcher.utter_message(text="Why: " + "; ".join(reasons) + ".")
        else:
            lines = "\n".join(
                f"{n}. {p.title.title()} — £{p.price:.2f} (item {p.sku}){f' — {r.reason}' if r.reason else ''}"
                for n, (r, p) in enumerate(picked, 1)
            )
            dispatcher.utter_message(text=lines)
        return [SlotSet("shown_products", [p.sku for p in products]), SlotSet("current_product", None)]

    def service(self) -> Recommendations:
        return self._recommendations if self._recommendations is not None else services.recommendations()

    def catalog(self) -> Catalog:
        return self._catalog if self._catalog is not None else services.products()

    def basket_skus(self, sender_id: str) -> list[str]:
        if self._basket is not None:
            return self._basket(sender_id)
        return [line.sku for line in services.shop().cart(sender_id).lines]

    def _recommend(self, tracker: Tracker, text: str) -> tuple[str, list[Recommendation]]:
        service, catalog = self.service(), self.catalog()
        skus = context.referenced_skus(tracker, first_search_hit, 1)
        anchor = catalog.get_by_sku(skus[0]) if skus else None
        named = bool(context.ordinal_positions(tracker) or context.entity_values(tracker, "product"))
        pointed = any(w in text for w in ("similar", "like this", "like that", *TOGETHER_WORDS))
        if anchor is not None and (named or pointed):
            if any(w in text for w in TOGETHER_WORDS):
                return (
                    f"Shoppers who bought {anchor.title.title()} often also bought:",
                    service.bought_together([anchor.id], RECOMMEND_K),
                )
            return f"Similar to {anchor.title.title()}:", service.similar_to(anchor.id, RECOMMEND_K)
        # what is in the basket is not recommended again (re-buys of earlier orders still are, in "buy again")
        in_basket = [p.id for p in (catalog.get_by_sku(s) for s in self.basket_skus(tracker.sender_id)) if p]
        customer = verified_customer(tracker)
        if customer is not None and service.knows(customer):
            lists = service.for_customer(customer, RECOMMEND_K, exclude=in_basket)
            picks = (lists.discover[:3] + lists.buy_again[:2]) or lists.discover
            return "Picked for you from what you usually buy:", picks[:RECOMMEND_K]
        category = browsed_category(tracker, catalog)
        if category is not None:
            popular = service.popular(CATEGORY_POOL, exclude=in_basket)
            found = catalog.get_many([r.product_id for r in popular])
            in_category = [r for r in popular if (p := found.get(r.product_id)) is not None and p.category == category]
            if in_category:
                label = CATEGORY_LABELS[Category(category)] if category in Category.__members__.values() else category
                return f"Popular in {label.lower()}:", in_category[:RECOMMEND_K]
        viewed_skus = context.shown_skus(tracker)[:3]
        viewed = [p.id for p in (catalog.get_by_sku(s) for s in viewed_skus) if p is not None]
        if viewed:
            lists = service.for_customer(None, RECOMMEND_K, viewed=viewed, exclude=in_basket)
            return "Based on what you've looked at, you might like:", lists.discover
        return "Popular with our shoppers right now:", service.popular(RECOMMEND_K, exclude=in_basket)
