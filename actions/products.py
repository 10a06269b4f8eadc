"""About products already shown: `action_product_details`, `action_compare_products`; and `action_recommend`
(personal for a verified customer, "similar to the second one", "what goes with it", else popular picks)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context, replies, services
from actions.base import ShopAction
from actions.orders import verified_customer
from actions.search import first_search_hit
from catalog.errors import CatalogError
from catalog.stock import StockState, StockStatus
from catalog.types import Product
from recsys.errors import RecsysError
from recsys.recommender import Recommendation
from retrieval.errors import RetrievalError

logger = logging.getLogger(__name__)

RECOMMEND_K = 5
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
            dispatcher.utter_message(json_message=replies.product_cards([product]))
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
            dispatcher.utter_message(json_message=replies.product_cards(products[:2]))
        return []


class ActionRecommend(ShopAction):
    def name(self) -> str:
        return "action_recommend"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = context.message_text(tracker).lower()
        try:
            intro, recommendations = await asyncio.to_thread(self._recommend, tracker, text)
            ids = [r.product_id for r in recommendations]
            found = await asyncio.to_thread(services.products().get_many, ids)
        except (RecsysError, CatalogError, RetrievalError) as exc:
            logger.error("recommendations failed: %s", exc)
            dispatcher.utter_message(response="utter_recommendations_unavailable")
            return []
        products = [found[i] for i in ids if i in found]
        if not products:
            dispatcher.utter_message(response="utter_recommendations_unavailable")
            return []
        dispatcher.utter_message(response="utter_recommendations", intro=intro)
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            dispatcher.utter_message(json_message=replies.product_cards(products))
        else:
            lines = "\n".join(
                f"{n}. {p.title.title()} — £{p.price:.2f} (item {p.sku})" for n, p in enumerate(products, 1)
            )
            dispatcher.utter_message(text=lines)
        return [SlotSet("shown_products", [p.sku for p in products]), SlotSet("current_product", None)]

    def _recommend(self, tracker: Tracker, text: str) -> tuple[str, list[Recommendation]]:
        service = services.recommendations()
        repository = services.products()
        skus = context.referenced_skus(tracker, first_search_hit, 1)
        anchor = repository.get_by_sku(skus[0]) if skus else None
        named = bool(context.ordinal_positions(tracker) or context.entity_values(tracker, "product"))
        pointed = any(w in text for w in ("similar", "like this", "like that", *TOGETHER_WORDS))
        if anchor is not None and (named or pointed):
            if any(w in text for w in TOGETHER_WORDS):
                return (
                    f"Shoppers who bought {anchor.title.title()} often also bought:",
                    service.bought_together([anchor.id], RECOMMEND_K),
                )
            return f"Similar to {anchor.title.title()}:", service.similar_to(anchor.id, RECOMMEND_K)
        customer = verified_customer(tracker)
        if customer is not None and service.knows(customer):
            lists = service.for_customer(customer, RECOMMEND_K)
            picks = (lists.discover[:3] + lists.buy_again[:2]) or lists.discover
            return "Picked for you from what you usually buy:", picks[:RECOMMEND_K]
        viewed_skus = context.shown_skus(tracker)[:3]
        viewed = [p.id for p in (repository.get_by_sku(s) for s in viewed_skus) if p is not None]
        if viewed:
            lists = service.for_customer(None, RECOMMEND_K, viewed=viewed)
            return "Based on what you've looked at, you might like:", lists.discover
        return "Popular with our shoppers right now:", service.popular(RECOMMEND_K)
