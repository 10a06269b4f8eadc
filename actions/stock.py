"""`action_check_stock`: "is the red lunch bag in stock?" → the product → its stock status, in the domain's words.

The product is the StockCode in the message when there is one, else the best search hit for the `product` entity
(or the whole message). The answer is built from `catalog.stock.StockStatus` fields; wording lives in domain.yml.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Engine

from actions import context, replies, services
from actions.base import ShopAction
from actions.search import first_search_hit, search_query
from catalog import inventory
from catalog.errors import CatalogError
from catalog.stock import StockLookup, StockState, StockStatus
from catalog.types import Product
from retrieval.errors import InvalidQuery, RetrievalError
from retrieval.search import ProductSearch

logger = logging.getLogger(__name__)


class ProductsBySku(Protocol):
    def get_by_sku(self, sku: str) -> Product | None: ...


STATE_RESPONSES = {
    StockState.IN_STOCK: "utter_stock_in_stock",
    StockState.LOW: "utter_stock_low",
    StockState.DISCONTINUED: "utter_stock_discontinued",
    StockState.UNKNOWN: "utter_stock_unknown",
}


def mentioned_sku(text: str) -> str | None:
    match = context.SKU_PATTERN.search(text)
    return match.group(1).upper() if match else None


def restock_words(status: StockStatus) -> dict[str, Any]:
    restock = status.next_restock
    if restock is None:
        return {}
    when = restock.expected_on
    day = f"{when.day} {when:%b}" if when.year == status.today.year else f"{when.day} {when:%b %Y}"
    return {"restock_date": day, "restock_quantity": restock.quantity}


def stock_messages(status: StockStatus) -> list[dict[str, Any]]:
    """The responses (name + variables) that answer a stock question for this status."""
    words: dict[str, Any] = {"title": status.title.title(), "on_hand": status.on_hand, **restock_words(status)}
    if status.state is StockState.OUT_OF_STOCK:
        name = "utter_stock_out_restock" if "restock_date" in words else "utter_stock_out_no_date"
        return [{"response": name, **words}]
    messages = [{"response": STATE_RESPONSES[status.state], **words}]
    if status.state in (StockState.IN_STOCK, StockState.LOW):
        if status.sellout_days is not None:
            messages.append({"response": "utter_stock_pace", "sellout_days": status.sellout_days})
        if status.state is StockState.LOW and "restock_date" in words:
            messages.append({"response": "utter_stock_restock_planned", **words})
    return messages


ALTERNATIVES = 3
"""In-stock products offered instead of one that is out of stock."""


class ActionCheckStock(ShopAction):
    def __init__(
        self,
        search: ProductSearch | None = None,
        stock: StockLookup | None = None,
        products: ProductsBySku | None = None,
    ) -> None:
        self._search = search
        self._stock = stock
        self._products = products

    def name(self) -> str:
        return "action_check_stock"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            product = await asyncio.to_thread(self._resolve, tracker)
            if product is None:
                dispatcher.utter_message(response="utter_stock_which_product")
                return []
            stock = self._stock if self._stock is not None else await asyncio.to_thread(services.stock)
            status = await asyncio.to_thread(stock.status, product.sku)
        except (RetrievalError, CatalogError) as exc:
            logger.error("stock check failed: %s", exc)
            dispatcher.utter_message(response="utter_stock_unavailable")
            return []
        for message in stock_messages(status):
            dispatcher.utter_message(**message)
        cards = tracker.get_latest_input_channel() in replies.CARD_CHANNELS
        if cards:
            dispatcher.utter_message(json_message=replies.product_cards([product], {product.sku: status}))
        if not status.available and status.state is not StockState.UNKNOWN:
            try:
                alternatives = await asyncio.to_thread(self._in_stock_alternatives, product, stock)
            except (RetrievalError, CatalogError) as exc:
                logger.warning("no alternatives for %s: %s", product.sku, exc)
                alternatives = []
            if alternatives:
                dispatcher.utter_message(response="utter_stock_alternatives")
                if cards:
                    statuses = await asyncio.to_thread(stock.statuses, [p.sku for p in alternatives])
                    dispatcher.utter_message(json_message=replies.product_cards(alternatives, statuses))
                else:
                    lines = [f"{n}. {p.title.title()} — £{p.price:.2f} (item {p.sku})" for n, p in
                             enumerate(alternatives, 1)]  # fmt: skip
                    dispatcher.utter_message(text="\n".join(lines))
            if status.state is not StockState.DISCONTINUED:
                dispatcher.utter_message(response="utter_offer_restock_alert")
        return [SlotSet("current_product", product.sku)]

    def _in_stock_alternatives(self, product: Product, stock: StockLookup, k: int = ALTERNATIVES) -> list[Product]:
        """Products like this one (by title) that can be ordered now."""
        search = self._search if self._search is not None else services.product_search()
        hits = [h.product for h in search.search(product.title, 4 * k) if h.product.sku != product.sku]
        statuses = stock.statuses([p.sku for p in hits])
        return [p for p in hits if (s := statuses.get(p.sku)) is not None and s.available][:k]

    def _resolve(self, tracker: Tracker) -> Product | None:
        """The product asked about: an item number, "the second one", a product name (best search hit), "it"; with
        none of these, the best hit for the whole message."""
        products = self._products if self._products is not None else services.products()
        for sku in context.referenced_skus(tracker, self._first_hit, 1):
            if (product := products.get_by_sku(sku)) is not None:
                return product
        return self._first_hit(search_query(tracker))

    def _first_hit(self, query: str) -> Product | None:
        search = self._search if self._search is not None else services.product_search()
        try:
            hits = search.search(query, 1)
        except InvalidQuery:
            return None
        return hits[0].product if hits else None


class ActionSubscribeBackInStock(ShopAction):
    """ "Tell me when it's back": a back-in-stock subscription for the product the conversation is about."""

    def __init__(self, products: ProductsBySku | None = None, engine: Engine | None = None) -> None:
        self._products = products
        self._engine = engine

    def name(self) -> str:
        return "action_subscribe_back_in_stock"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        products = self._products if self._products is not None else services.products()
        skus = await asyncio.to_thread(context.referenced_skus, tracker, first_search_hit, 1)
        product = await asyncio.to_thread(products.get_by_sku, skus[0]) if skus else None
        if product is None:
            dispatcher.utter_message(response="utter_stock_which_product")
            return []
        channel = tracker.get_latest_input_channel() or "rest"
        try:
            engine = self._engine if self._engine is not None else await asyncio.to_thread(services.engine)
            await asyncio.to_thread(inventory.subscribe, engine, tracker.sender_id, channel, product.sku)
        except CatalogError as exc:
            logger.error("subscription failed: %s", exc)
            dispatcher.utter_message(response="utter_stock_unavailable")
            return []
        dispatcher.utter_message(response="utter_restock_alert_set", title=product.title.title())
        return [SlotSet("current_product", product.sku)]
