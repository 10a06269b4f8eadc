"""End to end: HTTP → gateway → real Rasa → real action server → FAISS index + catalog DB, no mocks."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.stack import Stack
from catalog.db import make_engine
from catalog.models import ProductRow
from tests.e2e.conftest import Shopper

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

NewShopper = Callable[[], Shopper]


def test_search_answers_with_real_catalog_products(stack: Stack, new_shopper: NewShopper) -> None:
    status, body = new_shopper().chat("do you have red retrospot lunch bags?")
    assert status == 200, body
    kinds = [m["type"] for m in body["messages"]]
    assert kinds[0] == "text" and "product_cards" in kinds, body
    cards = next(m for m in body["messages"] if m["type"] == "product_cards")["products"]
    titles = [c["title"] for c in cards]
    assert any(all(w in t for w in ("RED", "RETROSPOT", "LUNCH BAG")) for t in titles), titles

    engine = make_engine(stack.settings.database_url)
    with Session(engine) as session:
        for card in cards:  # every card is a real product of the reference store, with its catalog price
            row = session.scalar(select(ProductRow).where(ProductRow.stock_code == card["sku"]))
            assert row is not None and row.title == card["title"]
            assert f"{row.unit_price:.2f}" == card["price"]
            assert card["stock"]["level"] in ("in", "low", "out") and card["stock"]["label"]


def test_greeting_gets_a_greeting_not_products(new_shopper: NewShopper) -> None:
    status, body = new_shopper().chat("hello")
    assert status == 200
    assert [m["type"] for m in body["messages"]] == ["text"]
    assert any(w in body["messages"][0]["text"].lower() for w in ("hi", "hello"))


def test_bad_input_gets_a_clear_error_and_the_stack_keeps_answering(stack: Stack, new_shopper: NewShopper) -> None:
    shopper = new_shopper()
    status, body = shopper.chat("   ")
    assert status == 400 and body["error"]["code"] == "empty_text"
    status, body = shopper.chat("x" * (stack.settings.max_message_chars + 1))
    assert status == 413
    status, body = shopper.chat("'; DROP TABLE products; --")
    assert status == 200
    status, body = shopper.request(
        "/api/chat",
        json.dumps({"sender_id": "web-" + "a" * 24, "text": "hi"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 403 and body["error"]["code"] == "sender_mismatch"
    status, body = shopper.chat("do you have red retrospot lunch bags?")
    assert status == 200 and any(m["type"] == "product_cards" for m in body["messages"])


def test_chat_page_is_served(stack: Stack) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.settings.gateway_port}/", timeout=10) as response:
        page = response.read().decode()
    assert response.status == 200 and "<html" in page.lower()


def test_stock_question_answers_from_the_simulated_stock(new_shopper: NewShopper) -> None:
    status, body = new_shopper().chat("is the red retrospot lunch bag in stock?")
    assert status == 200, body
    first = body["messages"][0]
    assert first["type"] == "text" and "Lunch Bag Red Retrospot" in first["text"], body
    assert any(w in first["text"] for w in ("in stock", "out of stock", "discontinued", "left")), first
    cards = next(m for m in body["messages"] if m["type"] == "product_cards")["products"]
    assert [c["sku"] for c in cards] == ["20725"]


def test_history_comes_back_from_the_tracker_for_that_shopper_only(new_shopper: NewShopper) -> None:
    me, someone = new_shopper(), new_shopper()
    assert me.chat("do you have red retrospot lunch bags?")[0] == 200
    status, body = me.request("/api/history")
    assert status == 200 and body["handoff"] == "bot"
    kinds = [(m["from"], m["type"]) for m in body["messages"]]
    assert kinds[0] == ("user", "text") and body["messages"][0]["text"] == "do you have red retrospot lunch bags?"
    assert ("bot", "product_cards") in kinds, kinds
    status, theirs = someone.request("/api/history")
    assert status == 200 and "retrospot" not in json.dumps(theirs).lower()


def test_handoff_through_rasas_api_silences_the_bot_until_handed_back(stack: Stack, new_shopper: NewShopper) -> None:
    """Pause, a staff reply and resume through the real Rasa HTTP API, as the console does it."""
    import asyncio

    from assistant.gateway import GatewayConfig, RasaClient

    shopper = new_shopper()
    assert shopper.chat("hello")[0] == 200
    config = GatewayConfig.from_settings(stack.settings)

    async def staff(step: str) -> list[dict[str, object]]:
        async with RasaClient(config) as client:
            if step == "take":
                await client.pause(shopper.sender_id)
                return await client.say_as_agent(shopper.sender_id, "Hello from Alex", agent="Alex")
            await client.resume(shopper.sender_id)
            return []

    said = asyncio.run(staff("take"))
    assert [m.get("text") for m in said] == ["Hello from Alex"]
    status, body = shopper.chat("is anyone there?")
    assert status == 200 and body["messages"] == []  # paused: logged, not answered
    history = shopper.request("/api/history")[1]
    assert history["handoff"] == "taken"
    assert {"type": "text", "text": "Hello from Alex", "from": "agent", "agent": "Alex"} in history["messages"]
    assert {"type": "text", "text": "is anyone there?", "from": "user"} in history["messages"]
    asyncio.run(staff("give back"))
    status, body = shopper.chat("hello")
    assert status == 200 and body["messages"], body
