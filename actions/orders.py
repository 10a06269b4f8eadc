"""Orders: `action_order_status`, `action_cancel_order`, the return form (`validate_return_form`,
`action_submit_return`), the address form (`validate_address_form`, `action_submit_address`) and identifying as a
customer (`validate_identify_form`, `action_confirm_identity`).

Which orders a conversation may see is decided by `catalog.shop.ShopService`: those it placed, and the verified
customer's. A customer is verified by naming one of their own order numbers, never by the customer number alone.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Callable
from datetime import date
from typing import Any

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import context, services
from actions.base import ShopAction
from catalog.errors import CatalogError
from catalog.shop import Order, OrderNotChangeable, OrderStatus, ShopError, ShopService, check_returnable

logger = logging.getLogger(__name__)


def verified_customer(tracker: Tracker) -> str | None:
    customer = tracker.get_slot("customer_id")
    return str(customer) if customer and tracker.get_slot("customer_verified") is True else None


def describe_order(order: Order) -> str:
    placed = f"{order.placed_at.day} {order.placed_at:%b %Y}"
    items = f"{order.items} item{'s' if order.items != 1 else ''}, £{order.total:.2f}"
    if order.status is OrderStatus.CANCELLED:
        return f"Order {order.order_no} ({items}) was cancelled."
    if order.status is OrderStatus.DELIVERED and order.delivered_on is not None:
        return f"Order {order.order_no} ({items}, placed {placed}) was delivered on {order.delivered_on:%d %b %Y}."
    if order.status is OrderStatus.DISPATCHED:
        return f"Order {order.order_no} ({items}, placed {placed}) is on its way and should arrive within 3 days."
    if order.status is OrderStatus.PLACED:
        where = f" It goes to: {order.delivery_address}." if order.delivery_address else ""
        return (
            f"Order {order.order_no} ({items}, placed {placed}) is being packed and hasn't left us yet; standard "
            f"delivery takes 3–5 working days once it's sent.{where}"
        )
    return f"Order {order.order_no} ({items}, placed {placed}) is {order.status.value}."


class _OrderAction(ShopAction):
    def __init__(self, shop: ShopService | None = None) -> None:
        self._shop = shop

    def shop(self) -> ShopService:
        return self._shop if self._shop is not None else services.shop()


class ActionOrderStatus(_OrderAction):
    def name(self) -> str:
        return "action_order_status"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        number = context.order_number(tracker)
        customer = verified_customer(tracker)
        try:
            if number is None:
                order = await asyncio.to_thread(self.shop().latest_order, tracker.sender_id, customer)
                if order is None:
                    dispatcher.utter_message(response="utter_ask_order_id")
                    return []
            else:
                order = await asyncio.to_thread(self.shop().order, number, tracker.sender_id, customer)
        except ShopError as exc:
            dispatcher.utter_message(text=str(exc))
            return []
        except CatalogError as exc:
            logger.error("order lookup failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            return []
        dispatcher.utter_message(text=describe_order(order))
        return []


class ActionCancelOrder(_OrderAction):
    def name(self) -> str:
        return "action_cancel_order"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        number = context.order_number(tracker)
        customer = verified_customer(tracker)
        try:
            if number is None:
                latest = await asyncio.to_thread(self.shop().latest_order, tracker.sender_id, customer)
                if latest is None or not latest.placed_here:
                    dispatcher.utter_message(text="Which order should I cancel? Please give me its order number.")
                    return []
                number = latest.order_no
            order = await asyncio.to_thread(self.shop().cancel_order, number, tracker.sender_id, customer)
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return []
        except CatalogError as exc:
            logger.error("cancelling failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            return []
        dispatcher.utter_message(
            text=f"Done: order {order.order_no} is cancelled and you won't be charged the £{order.total:.2f}."
        )
        return []


class _ShopFormValidation(FormValidationAction):
    @abstractmethod
    def name(self) -> str:
        """validate_<form name> (rasa-sdk registers only concrete subclasses)."""

    def __init__(self, shop: ShopService | None = None, today: date | None = None) -> None:
        self._shop = shop
        self._today = today

    def shop(self) -> ShopService:
        return self._shop if self._shop is not None else services.shop()

    def today(self) -> date:
        return self._today if self._today is not None else services.store_today()

    async def find_order(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        check: Callable[[Order], None] | None = None,
    ) -> Order | None:
        """The order the shopper named, if it is theirs and passes `check` (which raises `ShopError` with the
        reason); otherwise None, with the reason told to the shopper."""
        number = context.ORDER_PATTERN.search(str(value or ""))
        if number is None:
            dispatcher.utter_message(text="Order numbers have 6 digits, like 536365.")
            return None
        try:
            order = await asyncio.to_thread(
                self.shop().order, number.group(1), tracker.sender_id, verified_customer(tracker)
            )
            if check is not None:
                check(order)
        except ShopError as exc:
            dispatcher.utter_message(text=f"{exc}. Give me another order number, or say “no” to stop.")
            return None
        except CatalogError as exc:
            logger.error("order lookup failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            return None
        return order


class ValidateReturnForm(_ShopFormValidation):
    def name(self) -> str:
        return "validate_return_form"

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        today = await asyncio.to_thread(self.today)
        order = await self.find_order(value, dispatcher, tracker, lambda o: check_returnable(o, today))
        return {"order_id": order.order_no if order else None}

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        reason = " ".join(str(value or "").split())
        if len(reason) < 3:
            dispatcher.utter_message(text="Could you tell me a bit more about what's wrong?")
            return {"return_reason": None}
        return {"return_reason": reason[:500]}


class ActionSubmitReturn(_OrderAction):
    def name(self) -> str:
        return "action_submit_return"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order_no = str(tracker.get_slot("order_id") or "")
        reason = str(tracker.get_slot("return_reason") or "")
        reset: list[EventType] = [SlotSet("order_id", None), SlotSet("return_reason", None)]
        try:
            today = await asyncio.to_thread(services.store_today)
            request = await asyncio.to_thread(
                self.shop().request_return, order_no, tracker.sender_id, verified_customer(tracker), reason, today
            )
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return reset
        except CatalogError as exc:
            logger.error("recording the return failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            return reset
        dispatcher.utter_message(
            text=f"Thanks. I've opened return request R{request.id} for order {request.order_no} "
            f"(reason: “{request.reason}”). Our team reviews return requests and will contact you about sending it "
            "back; the refund goes to your original payment method once the parcel arrives."
        )
        return reset


def check_address_changeable(order: Order) -> None:
    if not order.placed_here or order.status is not OrderStatus.PLACED:
        raise OrderNotChangeable(f"{describe_order(order)} Its delivery address can't be changed any more")


class ValidateAddressForm(_ShopFormValidation):
    def name(self) -> str:
        return "validate_address_form"

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        order = await self.find_order(value, dispatcher, tracker, check_address_changeable)
        return {"order_id": order.order_no if order else None}

    async def validate_delivery_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        address = " ".join(str(value or "").split())
        if not 8 <= len(address) <= 300 or not any(ch.isdigit() for ch in address):
            dispatcher.utter_message(
                text="Please give the full address with house number and postcode, "
                "e.g. “12 High Street, Leeds LS1 4AB”."
            )
            return {"delivery_address": None}
        return {"delivery_address": address}


class ActionSubmitAddress(_OrderAction):
    def name(self) -> str:
        return "action_submit_address"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order_no = str(tracker.get_slot("order_id") or "")
        address = str(tracker.get_slot("delivery_address") or "")
        reset: list[EventType] = [SlotSet("order_id", None), SlotSet("delivery_address", None)]
        try:
            order = await asyncio.to_thread(
                self.shop().change_address, order_no, tracker.sender_id, verified_customer(tracker), address
            )
        except ShopError as exc:
            dispatcher.utter_message(text=f"Sorry, {exc}.")
            return reset
        except CatalogError as exc:
            logger.error("changing the address failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            return reset
        dispatcher.utter_message(text=f"Done: order {order.order_no} will go to {order.delivery_address}.")
        return reset


class ValidateIdentifyForm(_ShopFormValidation):
    def name(self) -> str:
        return "validate_identify_form"

    async def validate_customer_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        match = context.CUSTOMER_PATTERN.search(str(value or ""))
        if match is None:
            dispatcher.utter_message(text="Customer numbers have 5 digits, like 12346.")
            return {"customer_id": None}
        return {"customer_id": match.group(1), "customer_verified": False}

    async def validate_verification_order(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        match = context.ORDER_PATTERN.search(str(value or ""))
        customer = str(tracker.get_slot("customer_id") or "")
        try:
            ok = match is not None and await asyncio.to_thread(self.shop().verify_customer, customer, match.group(1))
        except CatalogError as exc:
            logger.error("verifying the customer failed: %s", exc)
            dispatcher.utter_message(response="utter_orders_unavailable")
            ok = False
        if not ok:
            dispatcher.utter_message(
                text="Sorry, that doesn't match our records, so I can't link your account to this chat."
            )
            return {"verification_order": "failed", "customer_verified": False, "customer_id": None}
        return {"verification_order": match.group(1) if match else None, "customer_verified": True}


class ActionConfirmIdentity(ShopAction):
    def name(self) -> str:
        return "action_confirm_identity"

    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        # the order number given as proof is not the order the shopper wants to talk about next
        events: list[EventType] = [SlotSet("verification_order", None), SlotSet("order_id", None)]
        if tracker.get_slot("customer_verified") is True and tracker.get_slot("customer_id"):
            dispatcher.utter_message(
                text=f"Thanks, you're signed in as customer {tracker.get_slot('customer_id')}. I can now look up "
                "your orders and tailor recommendations to what you buy."
            )
        return events
