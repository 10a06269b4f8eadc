"""What a message refers to: item numbers, "the second one", names, "it"; quantities; order numbers; feelings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actions import context
from catalog.types import Product
from tests.actions.conftest import make_tracker, user_event

SHOWN = {"shown_products": ["20725", "85099B", "85123A"]}
CAKESTAND = Product(9, "22423", "REGENCY CAKESTAND 3 TIER", Decimal("12.75"))


def ordinal(value: str) -> dict[str, str]:
    return {"entity": "ordinal", "value": value}


@pytest.mark.parametrize(
    ("text", "entities", "slots", "expected"),
    [
        ("add 85123a to my basket", [], {}, ["85123A"]),
        ("tell me about the second one", [ordinal("2")], SHOWN, ["85099B"]),
        ("the last one", [ordinal("last")], SHOWN, ["85123A"]),
        ("compare the first and third", [ordinal("1"), ordinal("3")], SHOWN, ["20725", "85123A"]),
        ("compare the first two", [], SHOWN, ["20725", "85099B"]),
        ("the ninth one", [ordinal("9")], SHOWN, []),
        ("the second one", [ordinal("2")], {}, []),
        ("is it in stock", [], {"current_product": "22423", **SHOWN}, ["22423"]),
        ("add it", [], {"shown_products": ["20725"]}, ["20725"]),
        ("the regency cakestand", [{"entity": "product", "value": "regency cakestand"}], SHOWN, ["22423"]),
    ],
)
def test_referenced_products(text: str, entities: list[dict[str, str]], slots: dict[str, object],
                             expected: list[str]) -> None:  # fmt: skip
    tracker = make_tracker(text, entities, slots=slots)
    assert context.referenced_skus(tracker, lambda name: CAKESTAND, limit=2) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 1), ("3", 3), ("two", 2), ("a dozen", 12), ("0", None), ("1000", None), ("lots", None)],
)
def test_quantities(value: str | None, expected: int | None) -> None:
    entities = [{"entity": "quantity", "value": value}] if value else []
    assert context.quantity(make_tracker("add some", entities)) == expected


def test_order_numbers_from_entities_or_text() -> None:
    assert context.order_number(make_tracker("where is order 536365?")) == "536365"
    assert context.order_number(make_tracker("status of c536379")) == "C536379"
    assert context.order_number(make_tracker("where is my order")) is None
    assert context.order_number(make_tracker("item 20725")) is None


def test_sentiment_and_negative_streak() -> None:
    history = [user_event("this is awful", "complaint", "negative"), user_event("hi", "greet", "neutral")]
    tracker = make_tracker("still broken!!", [{"entity": "sentiment", "value": "negative", "confidence_entity": 0.8}],
                           history=history)  # fmt: skip
    assert context.sentiment(tracker.latest_message) == ("negative", 0.8)
    assert context.negative_streak(tracker) == 2
    assert context.sentiment({"text": "x"}) == (None, 0.0)
