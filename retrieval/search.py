"""Product search by meaning: query → MiniLM vector → FAISS → products from the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from catalog.errors import CatalogError
from catalog.types import Product
from retrieval.encoder import TextEncoder
from retrieval.errors import InvalidQuery, RetrievalUnavailable
from retrieval.index import VectorIndex


@dataclass(frozen=True)
class SearchHit:
    product: Product
    score: float
    """Higher is better; for `FaissProductSearch`, the cosine similarity of query and product text."""


class ProductLookup(Protocol):
    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        """Products by id; unknown ids are absent from the result."""
        ...


class ProductSearch(Protocol):
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """At most k hits, best first, distinct products.

        Raises InvalidQuery for a blank query, ValueError for k < 1, RetrievalUnavailable when the search fails.
        """
        ...


def product_text(product: Product) -> str:
    """The text embedded for a product: its title in lower case (the store's titles are ALL CAPS)."""
    return " ".join(product.title.split()).lower()


def clean_query(query: str) -> str:
    """The query as searched: whitespace collapsed; InvalidQuery when nothing is left."""
    cleaned = " ".join(query.split())
    if not cleaned:
        raise InvalidQuery("the search query is empty")
    return cleaned


class FaissProductSearch:
    """`ProductSearch` over a `VectorIndex` of product texts; products come from the catalog in index order."""

    def __init__(self, encoder: TextEncoder, index: VectorIndex, products: ProductLookup) -> None:
        if encoder.dim != index.dim:
            raise RetrievalUnavailable(
                f"the index holds {index.dim}-dimensional vectors but {encoder.name} makes {encoder.dim}; "
                "run `make build`"
            )
        self._encoder = encoder
        self._index = index
        self._products = products

    @classmethod
    def from_file(cls, path: Path, encoder: TextEncoder, products: ProductLookup) -> FaissProductSearch:
        """Open the index saved at `path`, checking it was built with this encoder (for start-up: fails fast)."""
        return cls(encoder, VectorIndex.load(path, expected_dim=encoder.dim, expected_model=encoder.name), products)

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        if k < 1:
            raise ValueError(f"k has value {k}; expected a positive integer")
        vector = self._encoder.encode([clean_query(query).lower()])
        scores, ids = self._index.search(vector, k)
        id_list = [int(i) for i in ids[0]]  # plain ints: database drivers reject numpy.int64
        try:
            found = self._products.get_many(id_list)
        except CatalogError as exc:
            raise RetrievalUnavailable(f"reading the matched products failed: {exc}") from exc
        # An id missing from the catalog means the index is older than the catalog: skip it rather than fail.
        return [SearchHit(found[i], float(score)) for i, score in zip(id_list, scores[0], strict=True) if i in found]
