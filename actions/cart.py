"""The basket: `action_add_to_cart`, `action_remove_from_cart`, `action_view_cart`, `action_checkout` (asks to
confirm) and `action_place_order` (places it). The basket belongs to the conversation (Rasa's sender id)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context, services
from actions.base import ShopAction
from actions.search import first_search_hit
from catalog.errors import CatalogError
from catalog.shop import Cart, ItemsUnavailable, ShopError, ShopService
from catalog.types import Product
from retrieval.errors import RetrievalError

logger = logging.getLogger(__name__)


def cart_summary(cart: Cart) -> str:
    lines = [f"• {line.quantity} × {line.title.title()} (item {line.sku}) — £{line.total:.2f}" for line in cart.lines]
    units = "item" if cart.units == 1 else "items"
    return "Your basket:\n" + "\n".join(lines) + f"\nTotal: £{cart.total:.2f} for {cart.units} {units}."


class _CartAction(ShopAction):
    def __init__(
        self, shop: ShopService | None = None, search_first: Callable[[str], Product | None] | None = None
    ) -> None:
        self._shop = shop
        self._search_first = search_first

    def shop(self) -> ShopService:
        return self._shop if self._shop is not None else services.shop()

    def searcher(self) -> Callable[[str], Product | None]:
        return self._search_first if self._search_first is not None else first_search_hit

    async def filled_cart(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> Cart | None:
        """The conversation's basket when it has something in it; else None, with the reason told to the shopper."""
        try:
            cart = await asyncio.to_thread(self.shop().cart, tracker.sender_id)
        except CatalogError as exc:
            logger.error("reading the basket failed: %s", exc)
            dispatcher.utter_message(response="utter_cart_unavailable")
            return None
        if not cart.lines:
            dispatcher.utter_message(response="utter_cart_empty")
            return None
        return cart


class ActionAddToCart(_CartAction):
    def name(self) -> str:
        return "action_add_to_cart"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        count = context.quantity(tracker)
        if count is None:
            dispatcher.utter_message(text="How many would you like? Any number from 1 to 999.")
            return []
        try:
            skus = await asyncio.to_thread(context.referenced_skus, tracker, self.searcher(), 1)
            if not skus:
                dispatcher.utter_message(response="utter_which_product")
                return []
            cart = await asyncio.to_thread(self.shop().add_to_cart, tracker.sender_id, skus[0], count)
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return []
        except (CatalogError, RetrievalError) as exc:
            logger.error("adding to the basket failed: %s", exc)
            dispatcher.utter_message(response="utter_cart_unavailable")
            return []
        added = next((line for line in cart.lines if line.sku == skus[0]), None)
        title = added.title.title() if added else skus[0]
        dispatcher.utter_message(text=f"Added {count} × {title} to your basket.")
        dispatcher.utter_message(response="utter_cart", summary=cart_summary(cart))
        return [SlotSet("current_product", skus[0])]


class ActionRemoveFromCart(_CartAction):
    def name(self) -> str:
        return "action_remove_from_cart"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = context.message_text(tracker).lower()
        shop = self.shop()
        try:
            if any(word in text for word in ("empty", "clear", "everything", "all of it")):
                await asyncio.to_thread(shop.clear_cart, tracker.sender_id)
                dispatcher.utter_message(text="I've emptied your basket.")
                return []
            cart = await asyncio.to_thread(shop.cart, tracker.sender_id)
            in_cart = [line.sku for line in cart.lines]
            skus = await asyncio.to_thread(context.referenced_skus, tracker, self.searcher(), 1)
            sku = skus[0] if skus else (in_cart[0] if len(in_cart) == 1 else None)
            if sku is None:
                dispatcher.utter_message(text="Which item should I take out? Tell me its name or item number.")
                return []
            amount = context.quantity(tracker, default=0) or None
            cart = await asyncio.to_thread(shop.remove_from_cart, tracker.sender_id, sku, amount)
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return []
        except (CatalogError, RetrievalError) as exc:
            logger.error("removing from the basket failed: %s", exc)
            dispatcher.utter_message(response="utter_cart_unavailable")
            return []
        dispatcher.utter_message(text=f"Done, I've taken item {sku} out.")
        if cart.lines:
            dispatcher.utter_message(response="utter_cart", summary=cart_summary(cart))
        else:
            dispatcher.utter_message(response="utter_cart_empty")
        return []


class ActionViewCart(_CartAction):
    def name(self) -> str:
        return "action_view_cart"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if (cart := await self.filled_cart(dispatcher, tracker)) is not None:
            dispatcher.utter_message(response="utter_cart", summary=cart_summary(cart))
        return []


class ActionCheckout(_CartAction):
    """Shows the basket and asks to confirm; `action_place_order` follows an "yes"."""

    def name(self) -> str:
        return "action_checkout"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if (cart := await self.filled_cart(dispatcher, tracker)) is not None:
            dispatcher.utter_message(response="utter_checkout_confirm", summary=cart_summary(cart))
        return []


class ActionPlaceOrder(_CartAction):
    def name(self) -> str:
        return "action_place_order"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        customer = tracker.get_slot("customer_id") if tracker.get_slot("customer_verified") else None
        try:
            order = await asyncio.to_thread(self.shop().checkout, tracker.sender_id, customer)
        except ItemsUnavailable as exc:
            names = "; ".join(f"{title.title()}: {available} left, you asked for {wanted}" for _, title, wanted,
                              available in exc.short)  # fmt: skip
            dispatcher.utter_message(
                text=f"I couldn't place the order: not enough stock for {names}. Change the quantity or remove it, "
                "then check out again. Nothing has been charged."
            )
            return []
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return []
        except CatalogError as exc:
            logger.error("checkout failed: %s", exc)
            dispatcher.utter_message(response="utter_cart_unavailable")
            return []
        dispatcher.utter_message(response="utter_order_placed", order_id=order.order_no, total=f"{order.total:.2f}")
        return [SlotSet("order_id", None)]
