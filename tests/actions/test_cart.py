"""The basket actions over a real (tiny) shop database."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher

from actions.cart import ActionAddToCart, ActionCheckout, ActionPlaceOrder, ActionRemoveFromCart, ActionViewCart
from catalog.shop import ShopService
from tests.actions.conftest import make_tracker


async def run(
    action: Action, text: str, entities: list[dict[str, Any]] | None = None, **kwargs: Any
) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, make_tracker(text, entities, **kwargs), domain={})
    return dispatcher, events


def texts(dispatcher: CollectingDispatcher) -> str:
    return "\n".join(str(m.get("text") or m.get("summary") or m.get("response")) for m in dispatcher.messages)


async def test_add_view_remove(shop: ShopService) -> None:
    shown = {"shown_products": ["20725", "85123A", "71053"]}
    quantity = {"entity": "quantity", "value": "two"}
    dispatcher, events = await run(
        ActionAddToCart(shop), "add two of the second one", [{"entity": "ordinal", "value": "2"}, quantity], slots=shown
    )
    assert "Added 2 × White Hanging Heart T-Light Holder" in texts(dispatcher)
    assert "Total: £5.10 for 2 items" in texts(dispatcher)
    assert events[0]["name"] == "current_product" and events[0]["value"] == "85123A"
    dispatcher, _ = await run(ActionViewCart(shop), "what's in my basket")
    assert "2 × White Hanging Heart T-Light Holder (item 85123A) — £5.10" in texts(dispatcher)
    dispatcher, _ = await run(ActionViewCart(shop), "what's in my basket", sender_id="someone-else")
    assert [m["response"] for m in dispatcher.messages] == ["utter_cart_empty"]
    dispatcher, _ = await run(ActionRemoveFromCart(shop), "remove it")  # the only line in the basket
    assert "taken item 85123A out" in texts(dispatcher) and "utter_cart_empty" in texts(dispatcher)


async def test_add_without_a_product_asks_which(shop: ShopService) -> None:
    dispatcher, _ = await run(ActionAddToCart(shop, search_first=lambda name: None), "add it to my basket")
    assert [m["response"] for m in dispatcher.messages] == ["utter_which_product"]


async def test_add_an_absurd_quantity_asks_again(shop: ShopService) -> None:
    entities = [{"entity": "quantity", "value": "5000"}, {"entity": "product", "value": "85123A"}]
    dispatcher, _ = await run(ActionAddToCart(shop), "add 5000 of 85123A", entities)
    assert "How many" in texts(dispatcher) and shop.cart("test-shopper").lines == ()


async def test_unknown_item_number_is_explained(shop: ShopService) -> None:
    dispatcher, _ = await run(ActionAddToCart(shop), "add 99999 to my basket")
    assert "no product with item number 99999" in texts(dispatcher)


async def test_checkout_confirms_then_places_the_order(shop: ShopService) -> None:
    dispatcher, _ = await run(ActionCheckout(shop), "checkout")
    assert [m["response"] for m in dispatcher.messages] == ["utter_cart_empty"]
    shop.add_to_cart("test-shopper", "71053", 2)
    dispatcher, _ = await run(ActionCheckout(shop), "checkout")
    [confirm] = dispatcher.messages
    assert confirm["response"] == "utter_checkout_confirm" and "£6.78" in confirm["summary"]
    dispatcher, _ = await run(ActionPlaceOrder(shop), "yes")
    [placed] = dispatcher.messages
    assert placed["response"] == "utter_order_placed" and placed["order_id"] == "600001" and placed["total"] == "6.78"
    assert shop.cart("test-shopper").lines == ()


async def test_checkout_short_of_stock_says_what_to_change(shop: ShopService) -> None:
    shop.add_to_cart("test-shopper", "20725", 1)
    dispatcher, _ = await run(ActionPlaceOrder(shop), "yes")
    assert "not enough stock for Lunch Bag Red Retrospot: 0 left, you asked for 1" in texts(dispatcher)
    assert len(shop.cart("test-shopper").lines) == 1
