"""`action_photo_search`: a shopper's uploaded photo (by id) → what it looks like → the store's matching products.

The gateway stores the photo and sends `/share_photo{"image_id": "..."}`; the id is only honoured for the sender
who uploaded it. Responses (wording in the domain):
  utter_photo_results        "That looks like {looks_like}. Here's what we have:"   (+ product cards)
  utter_photo_results_text   the same with {result_lines}, for channels without cards
  utter_photo_no_match       "It looks like {looks_like}, but nothing we sell looks like that. ..."
  utter_photo_not_recognised "I couldn't make out what's in the photo, and nothing we sell matches it. ..."
  utter_photo_not_found      the id is unknown, malformed or someone else's: "please send the photo again"
  utter_photo_ask            no photo id at all: how to send one
  utter_photo_unavailable    the image model or catalogue is down
"""

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
from retrieval.errors import RetrievalError
from retrieval.vision.errors import UploadNotFound, VisionError
from retrieval.vision.photo_search import PhotoSearch
from retrieval.vision.uploads import UploadStore

logger = logging.getLogger(__name__)


def image_id(tracker: Tracker) -> str | None:
    """The `image_id` entity of the latest message, else the slot."""
    for entity in tracker.latest_message.get("entities", []) or []:
        if entity.get("entity") == "image_id" and isinstance(entity.get("value"), str):
            return str(entity["value"])
    slot = tracker.get_slot("image_id")
    return slot if isinstance(slot, str) and slot else None


def in_words(label: str) -> str:
    """'coffee mug' → 'a coffee mug'; 'Granny Smith apple' stays a name with an article."""
    article = "an" if label[:1].lower() in "aeiou" else "a"
    return f"{article} {label}"


class ActionPhotoSearch(ShopAction):
    def __init__(
        self, search: PhotoSearch | None = None, uploads: UploadStore | None = None, top_k: int | None = None
    ) -> None:
        self._search = search
        self._uploads = uploads
        self._top_k = top_k

    def name(self) -> str:
        return "action_photo_search"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        wanted = image_id(tracker)
        if wanted is None:
            dispatcher.utter_message(response="utter_photo_ask")
            return []
        uploads = self._uploads or services.uploads()
        try:
            image = await asyncio.to_thread(uploads.open, wanted, tracker.sender_id)
        except UploadNotFound as exc:
            logger.info("photo %r refused for sender %s: %s", wanted, tracker.sender_id, exc)
            dispatcher.utter_message(response="utter_photo_not_found")
            return [SlotSet("image_id", None)]
        try:
            search = self._search if self._search is not None else await asyncio.to_thread(services.photo_search)
            k = self._top_k or services.settings().search_top_k
            match = await asyncio.to_thread(search.search, image, k)
        except (VisionError, RetrievalError, CatalogError) as exc:
            logger.error("photo search failed: %s", exc)
            dispatcher.utter_message(response="utter_photo_unavailable")
            return []
        labels = ", ".join(f"{label.name} {label.probability:.0%}" for label in match.labels[:3])
        logger.info("photo %s: %s → %d products", wanted, labels, len(match.hits))
        if not match.hits:
            if match.looks_like:
                dispatcher.utter_message(response="utter_photo_no_match", looks_like=in_words(match.looks_like))
            else:
                dispatcher.utter_message(response="utter_photo_not_recognised")
            return [SlotSet("shown_products", [])]
        looks_like = in_words(match.looks_like or match.hits[0].product.title)
        if tracker.get_latest_input_channel() in replies.CARD_CHANNELS:
            dispatcher.utter_message(response="utter_photo_results", looks_like=looks_like)
            stock = await asyncio.to_thread(services.card_stock, [h.product.sku for h in match.hits])
            dispatcher.utter_message(json_message=replies.product_cards([h.product for h in match.hits], stock))
        else:
            dispatcher.utter_message(
                response="utter_photo_results_text",
                looks_like=looks_like,
                result_lines=replies.result_lines(match.hits),
            )
        return [
            SlotSet("shown_products", [h.product.sku for h in match.hits]),
            SlotSet("last_query", match.search_phrase or match.hits[0].product.title),
            SlotSet("current_product", match.hits[0].product.sku),
        ]
