"""Product search in the conversation: `action_search_products` (a new search) and `action_refine_search`
("cheaper", "in blue", "only in stock", "not bags", "show more", or dropping a constraint that emptied the results).

The search itself is `retrieval.hybrid.HybridProductSearch.find`: the shopper's whole message is parsed there into
words and filters (price, colour, category, stock, exclusions), applied inside retrieval. What the conversation
keeps between turns lives in slots: the searched words (`last_query`), the filters (`search_filters`, a plain dict),
how far the shopper has paged (`search_offset`) and the cards shown (`shown_products`, for "the second one").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any, Protocol

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context, replies, services
from actions.base import ShopAction
from catalog.errors import CatalogError
from catalog.stock import StockStatus
from catalog.types import Product
from retrieval.errors import InvalidQuery, RetrievalError
from retrieval.hybrid import SearchRequest, SearchResult
from retrieval.query import ContradictoryFilters, Filters, ParsedQuery, content_words

logger = logging.getLogger(__name__)

MORE = re.compile(r"\b(more|others?|next|else|another)\b", re.IGNORECASE)
CHEAPER = re.compile(r"\b(cheaper|less expensive|lower price|cheapest|budget)\b", re.IGNORECASE)
DEARER = re.compile(r"\b(more expensive|dearer|pricier|nicer|posher|higher price|better quality)\b", re.IGNORECASE)
REFINEMENT_FILLER = re.compile(
    r"\b(show me|show|any|anything|something|what about|do you have( it)?|have you got|please|pls|the|ones?|those|"
    r"them|it|same|but|instead|maybe|a bit|just|like these|some)\b|[?!.,]",
    re.IGNORECASE,
)


class ConversationalSearch(Protocol):
    """What the search actions need (`retrieval.hybrid.HybridProductSearch` is one)."""

    def find(self, request: SearchRequest) -> SearchResult: ...

    def parse(self, text: str, base: Filters | None = None) -> ParsedQuery: ...


def search_query(tracker: Tracker) -> str:
    """A product name in the message: the `product` entity when NLU found one, else the whole message."""
    names = context.entity_values(tracker, "product")
    words = " ".join(names) or context.message_text(tracker)
    return " ".join(words.split())


def first_search_hit(name: str) -> Product | None:
    """The best match for a product name, or None (a blank name, nothing found)."""
    try:
        hits = services.product_search().search(name, 1)
    except InvalidQuery:
        return None
    return hits[0].product if hits else None


def filters_to_slot(filters: Filters) -> dict[str, Any]:
    """`Filters` as a slot value (JSON: strings and lists)."""
    return dict(filters.as_dict())


def filters_from_slot(value: object) -> Filters:
    """The inverse of `filters_to_slot`; a malformed value (never written by these actions) counts as no filters."""
    if not isinstance(value, dict):
        return Filters()
    try:
        return Filters.from_dict(value).check()
    except (InvalidQuery, ContradictoryFilters):
        return Filters()


def _joined(parsed: ParsedQuery) -> set[str]:
    """Joined spellings the parser searched for beside the shopper's own words ("tea light" → also "tealight")."""
    return {fixed for wrote, fixed in parsed.corrections if " " in wrote and " " not in fixed}


def shown_words(parsed: ParsedQuery) -> str:
    """The searched words as the shopper would say them: filler ("do you have") and added joined spellings left out
    (both spellings are searched, so neither is a correction to mention)."""
    added = _joined(parsed)
    return " ".join(w for w in content_words(parsed.text) if w not in added)


def constraint_words(filters: Filters) -> str:
    described = filters.describe()
    return f" ({', '.join(described)})" if described else ""


class ProductsBySku(Protocol):
    def get_by_sku(self, sku: str) -> Product | None: ...


class _SearchAction(ShopAction):
    def __init__(
        self,
        search: ConversationalSearch | None = None,
        top_k: int | None = None,
        products: ProductsBySku | None = None,
        stock: Callable[[Sequence[str]], Mapping[str, StockStatus]] | None = None,
    ) -> None:
        self._search = search
        self._top_k = top_k
        self._products = products
        self._stock = stock

    def search(self) -> ConversationalSearch:
        return self._search if self._search is not None else services.product_search()

    def k(self) -> int:
        return self._top_k or services.settings().search_top_k

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, request: SearchRequest, moved: str = ""
    ) -> list[EventType]:
        """Run `request` and tell the shopper what was found (or why nothing was), remembering the search.

        `moved`: "cheaper" or "more expensive" when this turn moved the price past what was shown; an empty result
        is then explained by that, not by whichever other constraint the search happens to name."""
        try:
            search = self._search if self._search is not None else await asyncio.to_thread(services.product_search)
            result = await asyncio.to_thread(search.find, request)
        except ContradictoryFilters as exc:
            dispatcher.utter_message(response="utter_search_contradiction", reason=exc.reason)
            return []
        except InvalidQuery:
            dispatcher.utter_message(response="utter_search_no_results", query=request.text or "that")
            return []
        except (RetrievalError, CatalogError) as exc:
            logger.error("product search failed: %s", exc)
            dispatcher.utter_message(response="utter_search_unavailable")
            return []
        words = result.query.text
        remembered: list[EventType] = [
            SlotSet("last_query", words),
            SlotSet("search_filters", filters_to_slot(result.filters)),
        ]
        if request.offset == 0:  # a new search (not "show more"): the staff console counts zero-result searches
            remembered.append(SlotSet("search_result_count", float(len(result.hits))))
        shown_as = f"{shown_words(result.query)}{constraint_words(result.filters)}".strip()
        if not result.hits:
            return remembered + self._nothing_found(dispatcher, result, shown_as, request.offset, moved)
        hits = result.hits
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            dispatcher.utter_message(response="utter_search_results", query=shown_as)
            stock = await asyncio.to_thread(self._stock or services.card_stock, [h.product.sku for h in hits])
            dispatcher.utter_message(json_message=replies.product_cards([h.product for h in hits], stock))
        else:
            dispatcher.utter_message(
                response="utter_search_results_text", query=shown_as, result_lines=replies.result_lines(hits)
            )
        for wrote, fixed in [c for c in result.query.corrections if c[1] not in _joined(result.query)][:2]:
            dispatcher.utter_message(response="utter_search_corrected", wrote=wrote, fixed=fixed)
        if result.has_more:
            dispatcher.utter_message(response="utter_search_more_hint")
        return [
            *remembered,
            SlotSet("search_offset", request.offset + len(hits)),
            SlotSet("shown_products", [h.product.sku for h in hits]),
            SlotSet("current_product", hits[0].product.sku if len(hits) == 1 else None),
        ]

    @staticmethod
    def _nothing_found(
        dispatcher: CollectingDispatcher, result: SearchResult, shown_as: str, offset: int, moved: str = ""
    ) -> list[EventType]:
        if offset > 0:
            dispatcher.utter_message(response="utter_search_no_more", query=shown_as)
            return []
        reason = result.empty_reason
        useful = [r for r in reason.relaxations if r.results > 0][:2] if reason else []
        if reason is None or not useful:
            dispatcher.utter_message(response="utter_search_no_results", query=shown_as)
            return []
        why = (
            f"there is nothing {moved} than what I showed"
            if moved
            else f"it's the {reason.constraint} that leaves nothing"
        )
        dispatcher.utter_message(
            text=f"Nothing matches “{shown_as}”: {why}.",
            buttons=[
                {
                    "title": f"Drop “{r.label}” ({r.results} found)",
                    "payload": f'/refine_search{{"relax": "{r.field}"}}',
                }
                for r in useful
            ],
        )
        return [SlotSet("search_offset", 0)]  # the cards on screen stay "the first one", "the second one"


class ActionSearchProducts(_SearchAction):
    """A new search: the whole message is parsed (words + constraints); earlier constraints are forgotten."""

    def name(self) -> str:
        return "action_search_products"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = context.message_text(tracker)
        if text.startswith("/"):  # a button ("Find a product") rather than words
            dispatcher.utter_message(response="utter_ask_what_to_find")
            return []
        return await self.answer(dispatcher, tracker, SearchRequest(text=text, k=self.k(), sellable_first=True))


class ActionRefineSearch(_SearchAction):
    """The last search again, changed by this message: a new constraint, the next page, or a constraint dropped."""

    def name(self) -> str:
        return "action_refine_search"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        words = str(tracker.get_slot("last_query") or "")
        filters = filters_from_slot(tracker.get_slot("search_filters"))
        if not words and not filters.active:
            dispatcher.utter_message(response="utter_ask_what_to_find")
            return []
        text = context.message_text(tracker)
        relax = context.entity_values(tracker, "relax")
        offset = 0
        moved = ""
        if relax:
            with contextlib.suppress(ValueError):  # a made-up field is ignored
                filters = filters.relaxed(relax[0])
        elif MORE.search(text) and not CHEAPER.search(text) and not DEARER.search(text) and len(text.split()) <= 5:
            offset = int(tracker.get_slot("search_offset") or 0)
        else:
            before = filters
            try:
                filters, extra_words = await asyncio.to_thread(self._refined, tracker, text, filters)
            except ContradictoryFilters as exc:
                dispatcher.utter_message(response="utter_search_contradiction", reason=exc.reason)
                return []
            except (RetrievalError, CatalogError) as exc:
                logger.error("refining the search failed: %s", exc)
                dispatcher.utter_message(response="utter_search_unavailable")
                return []
            words = f"{words} {extra_words}".strip()
            only_price = not extra_words and replace(filters, price_min=None, price_max=None) == replace(
                before, price_min=None, price_max=None
            )
            if only_price:
                moved = "cheaper" if CHEAPER.search(text) else "more expensive" if DEARER.search(text) else ""
        request = SearchRequest(text=words, k=self.k(), offset=offset, filters=filters, sellable_first=True)
        return await self.answer(dispatcher, tracker, request, moved)

    def _refined(self, tracker: Tracker, text: str, filters: Filters) -> tuple[Filters, str]:
        """`filters` changed by the message, and any new words to search for ("the vintage ones" → "vintage")."""
        prices = self._shown_prices(tracker)
        if CHEAPER.search(text) and prices:
            filters = replace(filters, price_max=min(prices) - Decimal("0.01"), price_min=None)
        elif DEARER.search(text) and prices:
            filters = replace(filters, price_min=max(prices) + Decimal("0.01"), price_max=None)
        rest = CHEAPER.sub(" ", DEARER.sub(" ", text))
        rest = " ".join(REFINEMENT_FILLER.sub(" ", rest).split())
        if not rest:
            return filters, ""
        try:
            parsed = self.search().parse(rest, filters)
        except InvalidQuery:
            return filters, ""
        return parsed.filters, parsed.text

    def _shown_prices(self, tracker: Tracker) -> list[Decimal]:
        repository = self._products if self._products is not None else services.products()
        found = (repository.get_by_sku(sku) for sku in context.shown_skus(tracker))
        return [p.price for p in found if p is not None]
