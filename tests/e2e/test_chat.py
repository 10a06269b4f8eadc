"""End to end: HTTP → gateway → real Rasa → real action server → FAISS index + catalog DB, no mocks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from assistant.stack import Stack
from catalog.db import make_engine
from catalog.models import ProductRow

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def chat(stack: Stack, text: str, sender: str | None = None) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"sender_id": sender or uuid.uuid4().hex, "text": text}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{stack.settings.gateway_port}/api/chat",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_search_answers_with_real_catalog_products(stack: Stack) -> None:
    status, body = chat(stack, "do you have red retrospot lunch bags?")
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


def test_greeting_gets_a_greeting_not_products(stack: Stack) -> None:
    status, body = chat(stack, "hello")
    assert status == 200
    assert [m["type"] for m in body["messages"]] == ["text"]
    assert any(w in body["messages"][0]["text"].lower() for w in ("hi", "hello"))


def test_bad_input_gets_a_clear_error_and_the_stack_keeps_answering(stack: Stack) -> None:
    status, body = chat(stack, "   ")
    assert status == 400 and body["error"]["code"] == "empty_text"
    status, body = chat(stack, "x" * (stack.settings.max_message_chars + 1))
    assert status == 413
    status, body = chat(stack, "'; DROP TABLE products; --")
    assert status == 200
    status, body = chat(stack, "do you have red retrospot lunch bags?")
    assert status == 200 and any(m["type"] == "product_cards" for m in body["messages"])


def test_chat_page_is_served(stack: Stack) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.settings.gateway_port}/", timeout=10) as response:
        page = response.read().decode()
    assert response.status == 200 and "<html" in page.lower()


def test_stock_question_answers_from_the_simulated_stock(stack: Stack) -> None:
    status, body = chat(stack, "is the red retrospot lunch bag in stock?")
    assert status == 200, body
    first = body["messages"][0]
    assert first["type"] == "text" and "Lunch Bag Red Retrospot" in first["text"], body
    assert any(w in first["text"] for w in ("in stock", "out of stock", "discontinued", "left")), first
    cards = next(m for m in body["messages"] if m["type"] == "product_cards")["products"]
    assert [c["sku"] for c in cards] == ["20725"]
