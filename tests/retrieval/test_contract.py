"""The `ProductSearch` contract, run against every implementation and every fake."""

from __future__ import annotations

import itertools

import pytest

from retrieval.encoder import TextEncoder
from retrieval.errors import InvalidQuery
from retrieval.index import VectorIndex
from retrieval.search import FaissProductSearch, ProductSearch, SearchHit, product_text
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder, InMemoryProducts, KeywordProductSearch


def faiss_search(encoder: TextEncoder) -> FaissProductSearch:
    vectors = encoder.encode([product_text(p) for p in SAMPLE_PRODUCTS])
    return FaissProductSearch(encoder, VectorIndex.build([p.id for p in SAMPLE_PRODUCTS], vectors), InMemoryProducts())


@pytest.fixture(
    params=["keyword", "faiss+hashing", pytest.param("faiss+minilm", marks=pytest.mark.slow)], scope="module"
)
def search(request: pytest.FixtureRequest) -> ProductSearch:
    if request.param == "keyword":
        return KeywordProductSearch(SAMPLE_PRODUCTS)
    if request.param == "faiss+hashing":
        return faiss_search(HashingEncoder())
    return faiss_search(request.getfixturevalue("minilm"))


@pytest.mark.parametrize("k", [1, 3, 5, 100])
def test_at_most_k_distinct_catalog_products_best_first(search: ProductSearch, k: int) -> None:
    hits = search.search("red retrospot bag", k=k)
    assert 1 <= len(hits) <= min(k, len(SAMPLE_PRODUCTS))
    assert all(isinstance(h, SearchHit) and h.product in SAMPLE_PRODUCTS for h in hits)
    assert len({h.product.id for h in hits}) == len(hits)
    assert all(a.score >= b.score for a, b in itertools.pairwise(hits))


def test_default_k_is_five(search: ProductSearch) -> None:
    assert len(search.search("bag")) <= 5 and len(search.search("lunch bag")) == 5


@pytest.mark.parametrize("title", ["LUNCH BAG RED RETROSPOT", "PARTY BUNTING", "REGENCY CAKESTAND 3 TIER"])
def test_an_exact_title_finds_that_product_first(search: ProductSearch, title: str) -> None:
    assert search.search(title.lower(), k=3)[0].product.title == title


@pytest.mark.parametrize("query", ["", " ", "\t\n  "])
def test_a_blank_query_is_invalid(search: ProductSearch, query: str) -> None:
    with pytest.raises(InvalidQuery):
        search.search(query)


def test_k_below_one_is_a_programming_error(search: ProductSearch) -> None:
    with pytest.raises(ValueError, match="k has value 0"):
        search.search("bag", k=0)
