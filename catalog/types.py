"""Plain, immutable values the catalog hands to other packages (no SQLAlchemy objects cross the boundary)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    id: int
    """Stable integer id (also the FAISS id of the product's vector)."""
    sku: str
    """The store's StockCode, e.g. '20725'."""
    title: str
    """Display title, e.g. 'LUNCH BAG RED RETROSPOT'."""
    price: Decimal
    """Current unit price in GBP."""
    category: str | None = None
    """A `catalog.attributes.Category` value derived from the title; None before attributes are derived."""
    subcategory: str | None = None
    colours: tuple[str, ...] = ()
    """Colours the title names, e.g. ('red',)."""
    patterns: tuple[str, ...] = ()
    """Patterns and themes, e.g. ('retrospot',)."""
    materials: tuple[str, ...] = ()
