"""Rasa's REST-channel messages → the typed items the chat page renders.

Rasa sends each bot message as a dict holding one or more of `text`, `buttons`, `image`, `attachment` and
`custom`. The page gets a flat list of items, each with a `type`, so it never guesses at Rasa's shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TypedDict

logger = logging.getLogger(__name__)

PRODUCT_CARDS = "product_cards"


class Button(TypedDict):
    title: str
    payload: str


class TextItem(TypedDict):
    type: Literal["text"]
    text: str


class ButtonsItem(TypedDict):
    type: Literal["buttons"]
    text: str
    buttons: list[Button]


class ProductCardsItem(TypedDict):
    type: Literal["product_cards"]
    products: list[dict[str, Any]]


class ImageItem(TypedDict):
    type: Literal["image"]
    url: str


class AttachmentItem(TypedDict):
    type: Literal["attachment"]
    payload: Any


class CustomItem(TypedDict):
    type: Literal["custom"]
    payload: Any


ChatItem = TextItem | ButtonsItem | ProductCardsItem | ImageItem | AttachmentItem | CustomItem


def normalise(messages: Iterable[dict[str, Any]]) -> list[ChatItem]:
    """Flatten Rasa's bot messages into chat items, in order; parts of unknown shape are dropped and logged."""
    return [item for message in messages for item in _items(message)]


def _items(message: dict[str, Any]) -> Iterator[ChatItem]:
    text = message.get("text")
    text = text if isinstance(text, str) else None
    buttons = _buttons(message.get("buttons"))
    if buttons:
        yield ButtonsItem(type="buttons", text=text or "", buttons=buttons)
    elif text:
        yield TextItem(type="text", text=text)

    image = message.get("image")
    if isinstance(image, str) and image:
        yield ImageItem(type="image", url=image)

    attachment = message.get("attachment")
    if attachment is not None:
        yield AttachmentItem(type="attachment", payload=attachment)

    custom = message.get("custom")
    if custom is not None:
        yield _custom(custom)


def _buttons(raw: object) -> list[Button]:
    if not isinstance(raw, list):
        return []
    buttons: list[Button] = []
    for button in raw:
        title = button.get("title") if isinstance(button, dict) else None
        if not isinstance(title, str) or not title:
            logger.warning("dropped a button without a title from Rasa: %.100r", button)
            continue
        payload = button.get("payload")
        buttons.append(Button(title=title, payload=payload if isinstance(payload, str) and payload else title))
    return buttons


def _custom(custom: Any) -> ProductCardsItem | CustomItem:
    if isinstance(custom, dict) and custom.get("type") == PRODUCT_CARDS:
        products = custom.get("products")
        if isinstance(products, list):
            return ProductCardsItem(type="product_cards", products=[p for p in products if isinstance(p, dict)])
        logger.warning("product_cards payload from Rasa without a list of products: %.100r", custom)
    return CustomItem(type="custom", payload=custom)
