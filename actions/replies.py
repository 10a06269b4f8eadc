"""Turns search hits into the data the domain's responses and the chat page's product cards need."""

from __future__ import annotations

from typing import Any

from catalog.types import Product
from retrieval.search import SearchHit

CARD_CHANNELS = frozenset({"rest"})
"""Input channels whose front end renders product cards (the web gateway uses Rasa's REST channel)."""
PRICE_ON_REQUEST = "price on request"
"""Shown for a product without a published price (stored as 0: see `catalog.grocery_store`)."""


def has_price(product: Product) -> bool:
    return product.price > 0


def product_cards(products: list[Product]) -> dict[str, Any]:
    """The custom payload the chat page renders as product cards. Prices are decimal strings (no float rounding)."""
    return {
        "type": "product_cards",
        "products": [
            {
                "sku": p.sku,
                "title": p.title,
                "price": f"{p.price:.2f}" if has_price(p) else PRICE_ON_REQUEST,
                "currency": "GBP",
            }
            for p in products
        ],
    }


def result_lines(hits: list[SearchHit]) -> str:
    """The same results as plain text, one line each, for channels without cards."""
    return "\n".join(
        f"{n}. {h.product.title.title()} — {_price(h.product)} (item {h.product.sku})" for n, h in enumerate(hits, 1)
    )


def _price(product: Product) -> str:
    return f"£{product.price:.2f}" if has_price(product) else PRICE_ON_REQUEST
