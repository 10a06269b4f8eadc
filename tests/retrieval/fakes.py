"""Fakes of retrieval's interfaces for any package's tests (no model, no torch, no index file).

Use: `from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder, InMemoryProducts, KeywordProductSearch`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np

from catalog.types import Product
from retrieval.encoder import Vectors
from retrieval.search import SearchHit, clean_query

# Real Online Retail products (StockCode, title as invoiced, median price); ids are deliberately not 0..n-1.
_ROWS = [
    ("20725", "LUNCH BAG RED RETROSPOT", "1.65"),
    ("85099B", "JUMBO BAG RED RETROSPOT", "2.08"),
    ("20724", "RED RETROSPOT CHARLOTTE BAG", "0.85"),
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", "2.95"),
    ("22423", "REGENCY CAKESTAND 3 TIER", "12.75"),
    ("47566", "PARTY BUNTING", "4.95"),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", "1.69"),
    ("22720", "SET OF 3 CAKE TINS PANTRY DESIGN ", "4.95"),
    ("21212", "PACK OF 72 RETROSPOT CAKE CASES", "0.55"),
    ("22383", "LUNCH BAG SUKI DESIGN ", "1.65"),
    ("20727", "LUNCH BAG  BLACK SKULL.", "1.65"),
    ("22384", "LUNCH BAG PINK POLKADOT", "1.65"),
    ("20728", "LUNCH BAG CARS BLUE", "1.65"),
    ("22386", "JUMBO BAG PINK POLKADOT", "2.08"),
    ("22197", "SMALL POPCORN HOLDER", "0.85"),
    ("22457", "NATURAL SLATE HEART CHALKBOARD ", "2.95"),
    ("22469", "HEART OF WICKER SMALL", "1.65"),
    ("22961", "JAM MAKING SET PRINTED", "1.45"),
    ("23298", "SPOTTY BUNTING", "4.95"),
    ("22411", "JUMBO SHOPPER VINTAGE RED PAISLEY", "2.08"),
    ("82482", "WOODEN PICTURE FRAME WHITE FINISH", "2.55"),
    ("22699", "ROSES REGENCY TEACUP AND SAUCER ", "2.95"),
    ("22666", "RECIPE BOX PANTRY YELLOW DESIGN", "2.95"),
    ("22993", "SET OF 4 PANTRY JELLY MOULDS", "1.25"),
    ("21080", "SET/20 RED RETROSPOT PAPER NAPKINS ", "0.85"),
    ("22178", "VICTORIAN GLASS HANGING T-LIGHT", "1.25"),
    ("22727", "ALARM CLOCK BAKELIKE RED ", "3.75"),
    ("22629", "SPACEBOY LUNCH BOX ", "1.95"),
    ("21181", "PLEASE ONE PERSON METAL SIGN", "2.10"),
    ("22139", "RETROSPOT TEA SET CERAMIC 11 PC ", "4.95"),
    ("21232", "STRAWBERRY CERAMIC TRINKET BOX", "1.25"),
    ("22722", "SET OF 6 SPICE TINS PANTRY DESIGN", "3.95"),
]
SAMPLE_PRODUCTS: tuple[Product, ...] = tuple(
    Product(id=1000 + 7 * n, sku=sku, title=title, price=Decimal(price)) for n, (sku, title, price) in enumerate(_ROWS)
)


def by_title(title: str, products: Iterable[Product] = SAMPLE_PRODUCTS) -> Product:
    """The sample product whose title, whitespace collapsed, is `title`."""
    return next(p for p in products if " ".join(p.title.split()) == title)


def _words(text: str) -> list[str]:
    """Lower-case words with a naive plural 's' dropped, so 'bags' meets 'BAG'."""
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in re.findall(r"[a-z0-9]+", text.lower())]


class HashingEncoder:
    """`TextEncoder` fake: a deterministic signed bag-of-words hash, unit norm. Counts calls and texts."""

    def __init__(self, dim: int = 64, name: str = "hashing-bow") -> None:
        self.dim = dim
        self.name = name
        self.calls = 0
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        self.calls += 1
        self.texts.extend(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _words(text):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[row]))
            if norm == 0.0:
                out[row, 0], norm = 1.0, 1.0
            out[row] /= norm
        return out


class InMemoryProducts:
    """`ProductLookup` fake over a list. Strict like a database driver: ids must be plain `int`s."""

    def __init__(self, products: Iterable[Product] = SAMPLE_PRODUCTS) -> None:
        self.by_id = {p.id: p for p in products}
        self.calls: list[list[int]] = []

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        if not all(type(i) is int for i in ids):
            raise TypeError(f"ids must be int, got {sorted({type(i).__name__ for i in ids})}")
        self.calls.append(list(ids))
        return {i: self.by_id[i] for i in ids if i in self.by_id}


class KeywordProductSearch:
    """`ProductSearch` fake: score = number of distinct query words in the title; ties: shorter title, then id."""

    def __init__(self, products: Iterable[Product] = SAMPLE_PRODUCTS) -> None:
        self._products = [(p, set(_words(p.title))) for p in products]

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        if k < 1:
            raise ValueError(f"k has value {k}; expected a positive integer")
        wanted = set(_words(clean_query(query)))
        scored = [(len(wanted & words), p) for p, words in self._products]
        ranked = sorted(((s, p) for s, p in scored if s > 0), key=lambda sp: (-sp[0], len(sp[1].title), sp[1].id))
        return [SearchHit(p, float(s)) for s, p in ranked[:k]]
