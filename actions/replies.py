"""Turns search hits into the data the domain's responses and the chat page's product cards need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog.stock import StockState, StockStatus
from catalog.types import Product
from retrieval.search import SearchHit

CARD_CHANNELS = frozenset({"rest"})
"""Input channels whose front end renders product cards (the web gateway uses Rasa's REST channel)."""
PRICE_ON_REQUEST = "price on request"
"""Shown for a product without a published price (stored as 0: see `catalog.grocery_store`)."""


def has_price(product: Product) -> bool:
    return product.price > 0


LOW_STOCK_COUNT_SHOWN = 20
"""A low-stock badge says "Only N left" up to this many units, "Low stock" above."""


def product_cards(products: list[Product], stock: Mapping[str, StockStatus] | None = None) -> dict[str, Any]:
    """The custom payload the chat page renders as product cards. Prices are decimal strings (no float rounding);
    `stock` (by SKU) adds a badge `{"level": "in" | "low" | "out", "label": ...}` to the cards it knows."""
    cards = []
    for p in products:
        card: dict[str, Any] = {
            "sku": p.sku,
            "title": p.title,
            "price": f"{p.price:.2f}" if has_price(p) else PRICE_ON_REQUEST,
            "currency": "GBP",
        }
        badge = stock_badge(stock.get(p.sku)) if stock else None
        if badge is not None:
            card["stock"] = badge
        cards.append(card)
    return {"type": "product_cards", "products": cards}


def stock_badge(status: StockStatus | None) -> dict[str, str] | None:
    """The card's stock badge, in words (the page adds colour), or None when the stock is unknown."""
    if status is None:
        return None
    if status.state is StockState.IN_STOCK:
        return {"level": "in", "label": "In stock"}
    if status.state is StockState.LOW:
        units = status.on_hand or 0
        label = f"Only {units} left" if 0 < units <= LOW_STOCK_COUNT_SHOWN else "Low stock"
        return {"level": "low", "label": label}
    if status.state is StockState.OUT_OF_STOCK:
        return {"level": "out", "label": "Out of stock"}
    if status.state is StockState.DISCONTINUED:
        return {"level": "out", "label": "No longer sold"}
    return None


def result_lines(hits: list[SearchHit]) -> str:
    """The same results as plain text, one line each, for channels without cards."""
    return "\n".join(
        f"{n}. {h.product.title.title()} — {_price(h.product)} (item {h.product.sku})" for n, h in enumerate(hits, 1)
    )


def _price(product: Product) -> str:
    return f"£{product.price:.2f}" if has_price(product) else PRICE_ON_REQUEST
