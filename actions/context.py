"""What a message refers to: "the second one", "it", an item number, a product name; how many; how the shopper feels.

Pure functions over the tracker (and a product lookup): every action that needs a product or a quantity asks here,
so "the second one" means the same thing to the stock, basket, details and recommendation actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rasa_sdk import Tracker

from catalog.types import Product

SKU_PATTERN = re.compile(r"\b(\d{5}[A-Za-z]{0,2}|DCGS\w+|SP\d{4})\b")
"""The reference store's item numbers (see catalog/online_retail.py)."""
ORDER_PATTERN = re.compile(r"\b(C?\d{6})\b", re.IGNORECASE)
CUSTOMER_PATTERN = re.compile(r"\b(\d{5})\b")

WORD_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "a single": 1, "two": 2, "a couple": 2, "a couple of": 2, "couple": 2, "three": 3,
    "four": 4, "five": 5, "six": 6, "half a dozen": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "a dozen": 12, "dozen": 12, "twenty": 20, "fifty": 50, "a hundred": 100,
}  # fmt: skip
ORDINAL_WORDS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
    "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9, "tenth": 10,
    "10th": 10, "last": -1, "top": 1,
}  # fmt: skip
PRONOUNS = re.compile(r"\b(it|that|this|that one|this one|them|those|these)\b", re.IGNORECASE)
MAX_QUANTITY = 999


def entity_values(tracker: Tracker, name: str) -> list[str]:
    """The values NLU found for an entity in the latest message, in order."""
    return [
        str(e.get("value"))
        for e in tracker.latest_message.get("entities", [])
        if e.get("entity") == name and e.get("value") not in (None, "")
    ]


def message_text(tracker: Tracker) -> str:
    return str(tracker.latest_message.get("text") or "")


def ordinal_positions(tracker: Tracker) -> list[int]:
    """1-based positions ("the second one" → 2, "the last" → -1) named in the message, from entities or words."""
    positions: list[int] = []
    for value in entity_values(tracker, "ordinal"):
        token = value.strip().lower().removeprefix("number ").strip()
        position = ORDINAL_WORDS.get(token) or (int(token) if re.fullmatch(r"-?\d{1,2}", token) else None)
        if position is not None and position not in positions:
            positions.append(position)
    if "first two" in message_text(tracker).lower() or "top two" in message_text(tracker).lower():
        positions = [p for p in (1, 2) if p not in positions] + positions
    return positions


def shown_skus(tracker: Tracker) -> list[str]:
    value = tracker.get_slot("shown_products")
    return [str(v) for v in value] if isinstance(value, list) else []


def pick_shown(shown: Sequence[str], position: int) -> str | None:
    """The SKU at a 1-based position of the shown list (-1: the last), or None if there is no such position."""
    if not shown or position == 0:
        return None
    index = position - 1 if position > 0 else len(shown) + position
    return shown[index] if 0 <= index < len(shown) else None


def referenced_skus(
    tracker: Tracker, search_first: Callable[[str], Product | None] | None = None, limit: int = 2
) -> list[str]:
    """The products the message is about, best guess first:
    item numbers typed → positions in the last results ("the second one") → product names (the best search hit)
    → "it"/"that" or nothing at all: the product the conversation is about."""
    text = message_text(tracker)
    found: list[str] = []

    def add(sku: str | None) -> None:
        if sku and sku not in found:
            found.append(sku)

    for match in SKU_PATTERN.finditer(text):
        add(match.group(1).upper())
    shown = shown_skus(tracker)
    for position in ordinal_positions(tracker):
        add(pick_shown(shown, position))
    if not found and search_first is not None:
        for name in entity_values(tracker, "product"):
            if SKU_PATTERN.fullmatch(name.strip()):
                continue
            hit = search_first(name)
            add(hit.sku if hit else None)
    if not found:
        current = tracker.get_slot("current_product")
        add(str(current) if current else None)
        if not found and len(shown) == 1:
            add(shown[0])
    return found[:limit]


def quantity(tracker: Tracker, default: int = 1) -> int | None:
    """How many ("3", "two", "a dozen"); `default` when none is said; None when it's not a sensible number."""
    values = entity_values(tracker, "quantity")
    if not values:
        return default
    raw = values[0].strip().lower()
    number = WORD_NUMBERS.get(raw)
    if number is None and re.fullmatch(r"\d{1,6}", raw):
        number = int(raw)
    if number is None or not 1 <= number <= MAX_QUANTITY:
        return None
    return number


def order_number(tracker: Tracker) -> str | None:
    values = entity_values(tracker, "order_id")
    for candidate in [*values, message_text(tracker)]:
        match = ORDER_PATTERN.search(candidate)
        if match:
            return match.group(1).upper()
    return None


def sentiment(parse: dict[str, Any]) -> tuple[str | None, float]:
    """The sentiment label and score the NLU pipeline gave a message (None when it gave none)."""
    for entity in parse.get("entities", []) or []:
        if entity.get("entity") == "sentiment":
            return str(entity.get("value")), float(entity.get("confidence_entity") or entity.get("confidence") or 0)
    attribute = parse.get("sentiment")
    if isinstance(attribute, dict) and attribute.get("label"):
        return str(attribute["label"]), float(attribute.get("score") or 0)
    return None, 0.0


def negative_streak(tracker: Tracker, window: int = 4) -> int:
    """How many of the shopper's last `window` messages were negative."""
    messages = [e for e in tracker.events if e.get("event") == "user"][-window:]
    return sum(1 for e in messages if sentiment(e.get("parse_data") or {})[0] == "negative")
