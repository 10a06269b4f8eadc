"""Order status, cancelling, the return/address/identity forms, over a real (tiny) shop database."""

from __future__ import annotations

from datetime import date
from typing import Any

from rasa_sdk.executor import CollectingDispatcher

from actions.orders import (
    ActionCancelOrder,
    ActionConfirmIdentity,
    ActionOrderStatus,
    ActionSubmitReturn,
    ValidateAddressForm,
    ValidateIdentifyForm,
    ValidateReturnForm,
)
from catalog.shop import ShopService
from tests.actions.conftest import make_tracker

VERIFIED = {"customer_id": "12346", "customer_verified": True}


def said(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(str(m.get("text") or m.get("response")) for m in dispatcher.messages)


async def test_status_of_an_order_placed_here_and_of_a_verified_customers_invoice(shop: ShopService) -> None:
    shop.add_to_cart("test-shopper", "85123A", 1)
    placed = shop.checkout("test-shopper")
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus(shop).run(dispatcher, make_tracker("where is my order"), {})
    assert f"Order {placed.order_no} (1 item, £2.55" in said(dispatcher) and "hasn't left us yet" in said(dispatcher)
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus(shop).run(dispatcher, make_tracker("where is order 536370", slots=VERIFIED), {})
    assert "Order 536370 (4 items, £7.00, placed 4 Dec 2010) was delivered on 07 Dec 2010." in said(dispatcher)


async def test_someone_elses_order_is_not_found(shop: ShopService) -> None:
    dispatcher = CollectingDispatcher()
    await ActionOrderStatus(shop).run(dispatcher, make_tracker("where is order 536370"), {})
    assert "I can't find order 536370 for you" in said(dispatcher) and "customer number" in said(dispatcher)
    shop.add_to_cart("other", "85123A", 1)
    theirs = shop.checkout("other")
    dispatcher = CollectingDispatcher()
    await ActionCancelOrder(shop).run(dispatcher, make_tracker(f"cancel order {theirs.order_no}"), {})
    assert "can't find" in said(dispatcher) and shop.order(theirs.order_no, "other").status.value == "placed"


async def test_cancel_the_latest_order(shop: ShopService) -> None:
    shop.add_to_cart("test-shopper", "71053", 1)
    placed = shop.checkout("test-shopper")
    dispatcher = CollectingDispatcher()
    await ActionCancelOrder(shop).run(dispatcher, make_tracker("cancel my order"), {})
    assert f"order {placed.order_no} is cancelled" in said(dispatcher)


async def test_return_form_validates_the_order_and_records_the_request(shop: ShopService) -> None:
    form = ValidateReturnForm(shop, today=date(2010, 12, 20))
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("536370", slots=VERIFIED)
    assert await form.validate_order_id("536370", dispatcher, tracker, {}) == {"order_id": "536370"}
    assert await form.validate_order_id("536368", dispatcher, tracker, {}) == {"order_id": "536368"}
    late = ValidateReturnForm(shop, today=date(2011, 6, 1))
    assert await late.validate_order_id("536370", dispatcher, tracker, {}) == {"order_id": None}
    assert "outside our returns window" in said(dispatcher)
    anonymous = make_tracker("536370")
    assert await form.validate_order_id("536370", dispatcher, anonymous, {}) == {"order_id": None}
    assert await form.validate_order_id("drop table", dispatcher, anonymous, {}) == {"order_id": None}
    assert await form.validate_return_reason("no", dispatcher, tracker, {}) == {"return_reason": None}
    assert await form.validate_return_reason(" it  broke ", dispatcher, tracker, {}) == {"return_reason": "it broke"}


async def test_address_form_refuses_delivered_orders_and_bad_addresses(shop: ShopService) -> None:
    form = ValidateAddressForm(shop)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("536370", slots=VERIFIED)
    assert await form.validate_order_id("536370", dispatcher, tracker, {}) == {"order_id": None}
    assert "can't be changed" in said(dispatcher)
    shop.add_to_cart("test-shopper", "71053", 1)
    placed = shop.checkout("test-shopper")
    assert await form.validate_order_id(placed.order_no, dispatcher, tracker, {}) == {"order_id": placed.order_no}
    assert await form.validate_delivery_address("my house", dispatcher, tracker, {}) == {"delivery_address": None}
    good = await form.validate_delivery_address("12 High Street, Leeds LS1 4AB", dispatcher, tracker, {})
    assert good == {"delivery_address": "12 High Street, Leeds LS1 4AB"}


async def test_identity_needs_one_of_the_customers_orders(shop: ShopService) -> None:
    form = ValidateIdentifyForm(shop)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("536368", slots={"customer_id": "12346"})
    assert (await form.validate_verification_order("536368", dispatcher, tracker, {}))["customer_verified"] is True
    wrong = await form.validate_verification_order("536366", dispatcher, tracker, {})
    assert wrong["customer_verified"] is False and wrong["customer_id"] is None
    assert "doesn't match our records" in said(dispatcher)
    dispatcher = CollectingDispatcher()
    await ActionConfirmIdentity().run(dispatcher, make_tracker("536368", slots=VERIFIED), {})
    assert "signed in as customer 12346" in said(dispatcher)


async def test_submitting_a_return_resets_the_form(shop: ShopService, monkeypatch: Any) -> None:
    from actions import services

    monkeypatch.setattr(services, "store_today", lambda: date(2010, 12, 20))
    slots = {**VERIFIED, "order_id": "536370", "return_reason": "arrived broken"}
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitReturn(shop).run(dispatcher, make_tracker("arrived broken", slots=slots), {})
    assert "return request R1 for order 536370" in said(dispatcher)
    assert {e["name"]: e["value"] for e in events} == {"order_id": None, "return_reason": None}
