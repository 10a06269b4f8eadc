"""FaissProductSearch: real model over real product titles (slow), and its plumbing with fakes (fast)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from catalog.errors import CatalogUnavailable
from catalog.types import Product
from retrieval.encoder import MiniLMEncoder, TextEncoder
from retrieval.errors import IndexNotBuilt, InvalidQuery, RetrievalUnavailable
from retrieval.index import VectorIndex
from retrieval.search import FaissProductSearch, product_text
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder, InMemoryProducts, by_title


def index_of(products: Sequence[Product], encoder: TextEncoder) -> VectorIndex:
    return VectorIndex.build([p.id for p in products], encoder.encode([product_text(p) for p in products]))


@pytest.fixture(scope="module")
def minilm_index(minilm: MiniLMEncoder) -> VectorIndex:
    return index_of(SAMPLE_PRODUCTS, minilm)


def test_product_text_is_the_title_in_lower_case_with_single_spaces() -> None:
    assert product_text(by_title("LUNCH BAG BLACK SKULL.")) == "lunch bag black skull."
    assert product_text(by_title("SET OF 3 CAKE TINS PANTRY DESIGN")) == "set of 3 cake tins pantry design"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("do you have red retrospot lunch bags?", "LUNCH BAG RED RETROSPOT"),
        ("polka dot lunch bag", "LUNCH BAG PINK POLKADOT"),
        ("a tea light holder with a heart", "WHITE HANGING HEART T-LIGHT HOLDER"),
        ("bunting for a party", "PARTY BUNTING"),
        ("bird decoration", "ASSORTED COLOUR BIRD ORNAMENT"),
        ("photo frame", "WOODEN PICTURE FRAME WHITE FINISH"),
        ("cake stand", "REGENCY CAKESTAND 3 TIER"),
        ("red clock", "ALARM CLOCK BAKELIKE RED"),
    ],
)
def test_minilm_search_finds_the_product_meant(
    minilm: MiniLMEncoder, minilm_index: VectorIndex, query: str, expected: str
) -> None:
    hits = FaissProductSearch(minilm, minilm_index, InMemoryProducts()).search(query, k=5)
    assert [h.product.title.strip() for h in hits][:1] == [expected]
    assert len(hits) == 5 and hits[0].score > hits[1].score


@pytest.mark.slow
def test_minilm_search_of_a_blank_query_is_invalid(minilm: MiniLMEncoder, minilm_index: VectorIndex) -> None:
    with pytest.raises(InvalidQuery):
        FaissProductSearch(minilm, minilm_index, InMemoryProducts()).search(" \t\n")


def test_products_missing_from_the_catalog_are_skipped_in_index_order() -> None:
    encoder = HashingEncoder()
    index = index_of(SAMPLE_PRODUCTS, encoder)
    everything = FaissProductSearch(encoder, index, InMemoryProducts()).search("red retrospot bag", k=6)
    gone = {everything[0].product.id, everything[3].product.id}
    catalog = InMemoryProducts(p for p in SAMPLE_PRODUCTS if p.id not in gone)

    hits = FaissProductSearch(encoder, index, catalog).search("red retrospot bag", k=6)

    assert hits == [h for h in everything if h.product.id not in gone]
    assert catalog.calls == [[h.product.id for h in everything]], "one lookup, with plain int ids, in FAISS order"


def test_query_case_and_spacing_do_not_matter() -> None:
    encoder = HashingEncoder()
    search = FaissProductSearch(encoder, index_of(SAMPLE_PRODUCTS, encoder), InMemoryProducts())
    assert search.search("  LUNCH   Bag red\tRETROSPOT ") == search.search("lunch bag red retrospot")
    assert encoder.texts[-2:] == ["lunch bag red retrospot"] * 2


def test_a_catalog_failure_becomes_retrieval_unavailable() -> None:
    class DownCatalog:
        def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
            raise CatalogUnavailable("database is locked")

    encoder = HashingEncoder()
    search = FaissProductSearch(encoder, index_of(SAMPLE_PRODUCTS, encoder), DownCatalog())
    with pytest.raises(RetrievalUnavailable, match="database is locked"):
        search.search("party bunting")


def test_an_index_of_another_width_is_refused_at_construction() -> None:
    index = index_of(SAMPLE_PRODUCTS, HashingEncoder(dim=32))
    with pytest.raises(RetrievalUnavailable, match="32-dimensional vectors but hashing-bow makes 64"):
        FaissProductSearch(HashingEncoder(dim=64), index, InMemoryProducts())


def test_from_file_opens_only_an_index_of_the_same_model(tmp_path: Path) -> None:
    path = tmp_path / "products.faiss"
    with pytest.raises(IndexNotBuilt, match="run `make build`"):
        FaissProductSearch.from_file(path, HashingEncoder(), InMemoryProducts())

    index_of(SAMPLE_PRODUCTS, HashingEncoder()).save(path, model="hashing-bow", fingerprint="f")
    hits = FaissProductSearch.from_file(path, HashingEncoder(), InMemoryProducts()).search("party bunting", k=1)
    assert [h.product.title for h in hits] == ["PARTY BUNTING"]
    with pytest.raises(RetrievalUnavailable, match="model is 'hashing-bow' but the encoder says 'other-model'"):
        FaissProductSearch.from_file(path, HashingEncoder(name="other-model"), InMemoryProducts())
