"""Empathy, the offer of a person, handoff and the two-stage fallback."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from rasa_sdk.executor import CollectingDispatcher

from actions.base import acknowledge_feelings
from actions.support import ActionComplaint, ActionDeleteMyData, ActionFallback, ActionHandoff
from catalog.shop import ShopService
from retrieval.vision.uploads import UploadStore
from tests.actions.conftest import make_tracker, user_event

NEGATIVE = [{"entity": "sentiment", "value": "negative", "confidence_entity": 0.9}]


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [str(m.get("response")) for m in dispatcher.messages]


def test_one_negative_message_gets_empathy_repeated_ones_an_offer_once() -> None:
    dispatcher = CollectingDispatcher()
    acknowledge_feelings(dispatcher, make_tracker("where is my parcel, this is rubbish", NEGATIVE))
    assert responses(dispatcher) == ["utter_empathy"]
    history = [user_event("still nothing", "order_status", "negative")]
    dispatcher = CollectingDispatcher()
    assert acknowledge_feelings(dispatcher, make_tracker("useless", NEGATIVE, history=history))
    assert responses(dispatcher) == ["utter_empathy", "utter_offer_human"]
    offered = [*history, {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_offer_human"}}]
    dispatcher = CollectingDispatcher()
    assert not acknowledge_feelings(dispatcher, make_tracker("useless", NEGATIVE, history=offered))
    assert responses(dispatcher) == ["utter_empathy"]
    dispatcher = CollectingDispatcher()
    acknowledge_feelings(dispatcher, make_tracker("do you have lunch bags"))
    assert responses(dispatcher) == []


async def test_fallback_asks_to_rephrase_then_offers_options() -> None:
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, make_tracker("blorp", intent="nlu_fallback"), {})
    assert responses(dispatcher) == ["utter_ask_rephrase"]
    history = [user_event("hi", "greet"), user_event("zzzz", "nlu_fallback")]
    dispatcher = CollectingDispatcher()
    await ActionFallback().run(dispatcher, make_tracker("blorp", intent="nlu_fallback", history=history), {})
    assert responses(dispatcher) == ["utter_fallback_options"]


async def test_complaint_says_sorry_and_offers_a_person() -> None:
    dispatcher = CollectingDispatcher()
    await ActionComplaint().run(dispatcher, make_tracker("this is unacceptable", NEGATIVE), {})
    assert responses(dispatcher)[0] == "utter_empathy" and responses(dispatcher)[-1] == "utter_offer_human"


async def test_handoff_marks_the_conversation_once(shop: ShopService) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff(shop).run(dispatcher, make_tracker("a person please"), {})
    assert responses(dispatcher) == ["utter_handoff"] and events[0]["value"] is True
    assert shop.handoff_status("test-shopper") == "waiting"
    dispatcher = CollectingDispatcher()
    await ActionHandoff(shop).run(dispatcher, make_tracker("hello??"), {})
    assert responses(dispatcher) == ["utter_handoff_already"]


async def test_delete_my_data_erases_basket_alerts_photos_and_queues_the_transcript(
    shop: ShopService, tmp_path: Path
) -> None:
    from catalog.inventory import subscribe

    shop.add_to_cart("test-shopper", "85123A", 2)
    shop.add_to_cart("someone-else", "85123A", 1)
    subscribe(shop._engine, "test-shopper", "rest", "20725")
    store = UploadStore(tmp_path / "uploads")
    mine = store.save(Image.new("RGB", (8, 8)), "test-shopper")
    theirs = store.save(Image.new("RGB", (8, 8)), "someone-else")
    dispatcher = CollectingDispatcher()
    events = await ActionDeleteMyData(shop, store).run(dispatcher, make_tracker("delete my data"), {})
    assert responses(dispatcher) == ["utter_data_deleted"]
    assert {e["name"] for e in events} >= {"customer_id", "shown_products"} and all(e["value"] is None for e in events)
    assert shop.cart("test-shopper").lines == () and len(shop.cart("someone-else").lines) == 1
    assert not mine.path.exists() and theirs.path.exists()
    assert shop.erase_conversation_data("test-shopper") == {"cart_items": 0, "stock_subscriptions": 0}
    assert shop.handoff_status("test-shopper") is None  # nobody needs to act: the console erases the transcript
    assert shop.request_erasure("test-shopper") is False  # already queued, once
