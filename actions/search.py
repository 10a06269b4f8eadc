"""`action_search_products`: the shopper's words → product search → product cards (or text lines)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies, services
from actions.base import ShopAction
from catalog.errors import CatalogError
from catalog.types import Product
from retrieval.errors import InvalidQuery, RetrievalError
from retrieval.search import ProductSearch

logger = logging.getLogger(__name__)


def search_query(tracker: Tracker) -> str:
    """What to search for: the `product` entity when NLU found one, else the whole message."""
    products = [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "product"]
    words = " ".join(str(p) for p in products if p) or tracker.latest_message.get("text") or ""
    return " ".join(words.split())


def first_search_hit(name: str) -> Product | None:
    """The best match for a product name, or None (a blank name, nothing found)."""
    try:
        hits = services.product_search().search(name, 1)
    except InvalidQuery:
        return None
    return hits[0].product if hits else None


class ActionSearchProducts(ShopAction):
    def __init__(self, search: ProductSearch | None = None, top_k: int | None = None) -> None:
        self._search = search
        self._top_k = top_k

    def name(self) -> str:
        return "action_search_products"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        query = search_query(tracker)
        try:
            search = self._search if self._search is not None else await asyncio.to_thread(services.product_search)
            k = self._top_k or services.settings().search_top_k
            hits = await asyncio.to_thread(search.search, query, k)
        except InvalidQuery:
            hits = []
        except (RetrievalError, CatalogError) as exc:
            logger.error("product search failed: %s", exc)
            dispatcher.utter_message(response="utter_search_unavailable")
            return []
        if not hits:
            dispatcher.utter_message(response="utter_search_no_results", query=query)
            return []
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            dispatcher.utter_message(response="utter_search_results", query=query)
            dispatcher.utter_message(json_message=replies.product_cards([h.product for h in hits]))
        else:
            dispatcher.utter_message(
                response="utter_search_results_text", query=query, result_lines=replies.result_lines(hits)
            )
        return [
            SlotSet("shown_products", [h.product.sku for h in hits]),
            SlotSet("last_query", query),
            SlotSet("current_product", hits[0].product.sku if len(hits) == 1 else None),
        ]
