"""Rasa's REST-channel messages become typed chat items, one kind at a time and through the API."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.gateway.messages import normalise
from tests.assistant.gateway.conftest import WEB, GatewayClient
from tests.assistant.gateway.stubs import RasaStub, Reply

CARDS = [
    {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "currency": "GBP"},
    {"sku": "22383", "title": "LUNCH BAG SUKI DESIGN", "price": "1.65", "currency": "GBP"},
]


@pytest.mark.parametrize(
    ("message", "items"),
    [
        ({"recipient_id": "s", "text": "Hello!"}, [{"type": "text", "text": "Hello!"}]),
        (
            {"recipient_id": "s", "text": "Gift wrap?", "buttons": [{"title": "Yes", "payload": "/affirm"}]},
            [{"type": "buttons", "text": "Gift wrap?", "buttons": [{"title": "Yes", "payload": "/affirm"}]}],
        ),
        (
            {"recipient_id": "s", "buttons": [{"title": "More like this", "payload": "/more"}]},
            [{"type": "buttons", "text": "", "buttons": [{"title": "More like this", "payload": "/more"}]}],
        ),
        (
            {
                "recipient_id": "s",
                "text": "Pick",
                "buttons": [{"title": "Red"}, {"payload": "/x"}, "junk", {"title": ""}],
            },
            [{"type": "buttons", "text": "Pick", "buttons": [{"title": "Red", "payload": "Red"}]}],
        ),
        ({"recipient_id": "s", "text": "Pick", "buttons": "nope"}, [{"type": "text", "text": "Pick"}]),
        (
            {"recipient_id": "s", "image": "https://example.org/bag.jpg"},
            [{"type": "image", "url": "https://example.org/bag.jpg"}],
        ),
        (
            {"recipient_id": "s", "text": "Look:", "image": "/static/bag.png"},
            [{"type": "text", "text": "Look:"}, {"type": "image", "url": "/static/bag.png"}],
        ),
        (
            {"recipient_id": "s", "custom": {"type": "product_cards", "products": CARDS}},
            [{"type": "product_cards", "products": CARDS}],
        ),
        (
            {"recipient_id": "s", "custom": {"type": "product_cards", "products": [CARDS[0], "junk", None]}},
            [{"type": "product_cards", "products": [CARDS[0]]}],
        ),
        (
            {"recipient_id": "s", "custom": {"type": "product_cards", "products": {"sku": "1"}}},
            [{"type": "custom", "payload": {"type": "product_cards", "products": {"sku": "1"}}}],
        ),
        (
            {"recipient_id": "s", "custom": {"type": "handoff", "agent": "staff"}},
            [{"type": "custom", "payload": {"type": "handoff", "agent": "staff"}}],
        ),
        ({"recipient_id": "s", "custom": ["a", 1]}, [{"type": "custom", "payload": ["a", 1]}]),
        (
            {"recipient_id": "s", "attachment": {"url": "https://example.org/invoice.pdf"}},
            [{"type": "attachment", "payload": {"url": "https://example.org/invoice.pdf"}}],
        ),
        ({"recipient_id": "s"}, []),
        ({"recipient_id": "s", "text": ""}, []),
        ({"recipient_id": "s", "text": 42}, []),
    ],
    ids=[
        "text",
        "text+buttons",
        "buttons-only",
        "bad-buttons",
        "buttons-not-list",
        "image",
        "text+image",
        "product-cards",
        "product-cards-junk",
        "product-cards-malformed",
        "other-custom",
        "custom-list",
        "attachment",
        "nothing",
        "empty-text",
        "text-not-string",
    ],
)
def test_each_kind_of_rasa_message_becomes_typed_items(message: dict[str, Any], items: list[dict[str, Any]]) -> None:
    assert normalise([message]) == items


def test_prices_stay_decimal_strings() -> None:
    [item] = normalise([{"custom": {"type": "product_cards", "products": CARDS}}])
    assert item["type"] == "product_cards"
    assert [p["price"] for p in item["products"]] == ["1.65", "1.65"]


def test_order_is_kept_across_messages() -> None:
    items = normalise([{"text": "one"}, {"image": "/a.png"}, {"text": "two"}])
    assert [item["type"] for item in items] == ["text", "image", "text"]
    assert [item.get("text") for item in items] == ["one", None, "two"]


async def test_a_product_search_turn_through_the_api(gateway: GatewayClient, rasa: RasaStub) -> None:
    rasa.script(
        Reply(
            json=[
                {"recipient_id": "abc", "text": "Here is what I found for “red lunch bag”:"},
                {"recipient_id": "abc", "custom": {"type": "product_cards", "products": CARDS}},
                {"recipient_id": "abc", "text": "Anything else?", "buttons": [{"title": "No", "payload": "/deny"}]},
            ]
        )
    )
    response = await gateway.post("/api/chat", json={"text": "red lunch bag"})
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.json() == {
        "messages": [
            {"type": "text", "text": "Here is what I found for “red lunch bag”:"},
            {"type": "product_cards", "products": CARDS},
            {"type": "buttons", "text": "Anything else?", "buttons": [{"title": "No", "payload": "/deny"}]},
        ]
    }
    assert rasa.received == [{"sender": WEB, "message": "red lunch bag"}]


async def test_markup_in_replies_is_passed_as_data_not_escaped_or_run(gateway: GatewayClient, rasa: RasaStub) -> None:
    evil = '<img src=x onerror="alert(1)">'
    rasa.script(Reply(json=[{"recipient_id": "abc", "text": evil}]))
    response = await gateway.post("/api/chat", json={"text": "hi"})
    assert response.content_type == "application/json"
    assert await response.json() == {"messages": [{"type": "text", "text": evil}]}
