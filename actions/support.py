"""Feelings and people: `action_complaint`, `action_handoff` (marks the conversation for staff) and
`action_fallback` (two stages: ask to rephrase, then offer options)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.base import ShopAction, offered_human_recently
from catalog.errors import CatalogError
from catalog.shop import HandoffReason, ShopService
from retrieval.vision.uploads import UploadStore

logger = logging.getLogger(__name__)


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many of the shopper's latest messages, counting back from the last one, NLU was unsure about."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != "nlu_fallback":
            break
        count += 1
    return count


class ActionFallback(ShopAction):
    acknowledge = False

    def name(self) -> str:
        return "action_fallback"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if fallbacks_in_a_row(tracker) >= 2:
            dispatcher.utter_message(response="utter_fallback_options")
        else:
            dispatcher.utter_message(response="utter_ask_rephrase")
        return []


class ActionComplaint(ShopAction):
    acknowledge = False

    def name(self) -> str:
        return "action_complaint"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_empathy")
        dispatcher.utter_message(
            text="If it's about an order, give me the order number and I'll check it, or I can start a return."
        )
        if not offered_human_recently(tracker):
            dispatcher.utter_message(response="utter_offer_human")
        return []


class ActionHandoff(ShopAction):
    acknowledge = False

    def __init__(self, shop: ShopService | None = None) -> None:
        self._shop = shop

    def name(self) -> str:
        return "action_handoff"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shop = self._shop if self._shop is not None else services.shop()
        channel = tracker.get_latest_input_channel() or "unknown"
        try:
            handoff = await asyncio.to_thread(shop.request_handoff, tracker.sender_id, channel, HandoffReason.ASKED)
        except CatalogError as exc:
            logger.error("handoff failed: %s", exc)
            dispatcher.utter_message(
                text="Sorry, I can't reach our team's queue right now. Please ask again in a minute; "
                "everything you wrote is kept."
            )
            return []
        dispatcher.utter_message(response="utter_handoff_already" if handoff.already_requested else "utter_handoff")
        return [SlotSet("handoff_requested", True)]


class ActionDeleteMyData(ShopAction):
    """ "Delete my data": the basket, back-in-stock alerts and photos go now; the transcript (Rasa's tracker store,
    written after this action) is queued in `erasure_requests` and erased seconds later by the staff console's
    background task (`assistant.console.privacy.Eraser.process_requests`), with everything else of the sender."""

    acknowledge = False

    def __init__(self, shop: ShopService | None = None, uploads: UploadStore | None = None) -> None:
        self._shop = shop
        self._uploads = uploads

    def name(self) -> str:
        return "action_delete_my_data"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shop = self._shop if self._shop is not None else services.shop()
        uploads = self._uploads if self._uploads is not None else services.uploads()
        try:
            await asyncio.to_thread(shop.erase_conversation_data, tracker.sender_id)
            await asyncio.to_thread(uploads.erase_sender, tracker.sender_id)
            await asyncio.to_thread(shop.request_erasure, tracker.sender_id)
        except (CatalogError, OSError) as exc:
            logger.error("erasure failed: %s", exc)
            dispatcher.utter_message(response="utter_delete_failed")
            return []
        dispatcher.utter_message(response="utter_data_deleted")
        return [
            SlotSet(name, None)
            for name in ("customer_id", "customer_verified", "shown_products", "current_product", "last_query",
                         "search_filters", "image_id")
        ]  # fmt: skip
