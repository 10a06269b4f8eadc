"""Hybrid search with filters inside retrieval (fake encoder, the sample products with derived attributes)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import pytest

from catalog.attributes import derive_attributes
from catalog.types import Product
from retrieval.errors import InvalidQuery, RetrievalUnavailable
from retrieval.hybrid import (
    HybridProductSearch,
    HybridTuning,
    RetrievalMode,
    SearchRequest,
    SearchSnapshot,
    fuse,
    query_groups,
)
from retrieval.index import VectorIndex
from retrieval.query import ContradictoryFilters, Filters
from retrieval.rerank import NO_RERANK
from retrieval.search import SearchHit, product_text
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder


def with_attributes(p: Product) -> Product:
    a = derive_attributes(p.title)
    return dataclasses.replace(
        p, category=a.category.value, subcategory=a.subcategory, colours=a.colours, patterns=a.patterns
    )


PRODUCTS = tuple(with_attributes(p) for p in SAMPLE_PRODUCTS)
RED = [p for p in PRODUCTS if "red" in p.colours]


class FakeStock:
    def __init__(self, available: set[str], discontinued: set[str] | None = None) -> None:
        self.available = frozenset(available)
        self.discontinued = frozenset(discontinued or ())
        self.calls = 0

    def available_skus(self) -> frozenset[str]:
        self.calls += 1
        return self.available

    def discontinued_skus(self) -> frozenset[str]:
        return self.discontinued


def make_search(
    stock: FakeStock | None = None, products: tuple[Product, ...] = PRODUCTS, tuning: HybridTuning | None = None
) -> HybridProductSearch:
    encoder = HashingEncoder(dim=64)
    vectors = encoder.encode([product_text(p) for p in products])
    index = VectorIndex.build([p.id for p in products], vectors)
    return HybridProductSearch(SearchSnapshot.build(products, index), encoder, stock, tuning)


def skus(hits: Sequence[SearchHit]) -> list[str]:
    return [h.product.sku for h in hits]


def test_the_old_protocol_still_answers() -> None:
    hits = make_search().search("red retrospot lunch bag", k=3)
    assert hits[0].product.sku == "20725" and len(hits) == 3
    with pytest.raises(ValueError):
        make_search().search("bag", k=0)
    with pytest.raises(InvalidQuery):
        make_search().search("   ")


def test_a_colour_filter_fills_the_page_with_matching_products() -> None:
    assert len(RED) >= 5
    result = make_search().find(SearchRequest("red", k=5))
    assert len(result.hits) == 5 and all("red" in h.product.colours for h in result.hits)
    assert "filter: colour: red" in result.explanation


@pytest.mark.parametrize("mode", list(RetrievalMode))
def test_filters_apply_inside_every_retriever(mode: RetrievalMode) -> None:
    result = make_search().find(SearchRequest("bag under £2", k=10, mode=mode))
    assert result.hits and all(h.product.price <= Decimal(2) for h in result.hits)
    assert all("bag" in h.product.title.lower() for h in result.hits[:2])


def test_a_narrow_filter_still_returns_every_product_that_passes_it() -> None:
    # the dense retriever alone would rank other products first; the filter is applied during the search (the
    # hashing encoder cannot tell "cake" is in "cakestand", so the whole-query abstention is off here)
    result = make_search(tuning=HybridTuning(coverage_min=0)).find(
        SearchRequest("cake", k=10, filters=Filters(price_min=Decimal(10)))
    )
    assert skus(result.hits) == ["22423"]  # the only product over £10: REGENCY CAKESTAND


def test_show_more_pages_through_without_repeats() -> None:
    search = make_search()
    first = search.find(SearchRequest("bag", k=3))
    second = search.find(SearchRequest("bag", k=3, offset=3))
    assert first.has_more and not set(skus(first.hits)) & set(skus(second.hits))
    shown = frozenset(skus(first.hits))
    again = search.find(SearchRequest("bag", k=3, exclude_skus=shown))
    assert not set(skus(again.hits)) & shown


def test_negations_exclude_categories_colours_and_words() -> None:
    search = make_search()
    hits = search.find(SearchRequest("retrospot not bags", k=10)).hits
    assert hits and all(h.product.category != "bags" for h in hits)
    hits = search.find(SearchRequest("lunch bag not pink", k=10)).hits
    assert hits and all("pink" not in h.product.colours for h in hits)
    hits = search.find(SearchRequest("bag without jumbo", k=10)).hits
    assert hits and all("JUMBO" not in h.product.title for h in hits)


def test_in_stock_uses_the_stock_protocol() -> None:
    stock = FakeStock({"20725", "22384"})
    result = make_search(stock).find(SearchRequest("lunch bag in stock", k=5))
    assert set(skus(result.hits)) <= {"20725", "22384"} and result.hits and stock.calls == 1
    with pytest.raises(RetrievalUnavailable, match="stock"):
        make_search(None).find(SearchRequest("lunch bag in stock"))


def test_zero_results_name_the_constraint_that_emptied_them() -> None:
    result = make_search().find(SearchRequest("red lunch bag under 50p"))
    assert result.hits == [] and result.empty_reason is not None
    assert result.empty_reason.constraint == "under £0.50"
    assert result.empty_reason.field == "price"
    relaxed = {r.field: r.results for r in result.empty_reason.relaxations}
    assert relaxed["price"] >= 1 and relaxed["colours"] == 0  # dropping the price brings the red bag back
    again = make_search().find(SearchRequest("lunch bag", filters=result.filters.relaxed("price")))
    assert again.hits and all("red" in h.product.colours for h in again.hits)
    assert make_search().find(SearchRequest("zzzqqq red", mode=RetrievalMode.LEXICAL)).empty_reason is None


def test_contradictory_filters_raise_a_typed_error() -> None:
    with pytest.raises(ContradictoryFilters, match="cannot both hold"):
        make_search().find(SearchRequest("bag under £2 and over £10"))


def test_a_query_of_only_filters_browses_by_price() -> None:
    result = make_search().find(SearchRequest("under £1", k=50))
    prices = [h.product.price for h in result.hits]
    assert prices == sorted(prices) and all(p <= 1 for p in prices) and prices


def test_nonsense_finds_nothing_lexically() -> None:
    assert make_search().find(SearchRequest("zzzqqq", mode=RetrievalMode.LEXICAL)).hits == []


def test_rrf_fusion_by_hand() -> None:
    fused = dict(fuse([(1, 9.0), (2, 1.0)], [(2, 0.5), (1, 0.4)], RetrievalMode.HYBRID))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62) and fused[2] == pytest.approx(1 / 62 + 1 / 61)
    assert fuse([(1, 9.0)], [(2, 0.5)], RetrievalMode.LEXICAL) == [(1, 9.0)]
    assert fuse([(1, 9.0)], [(2, 0.5)], RetrievalMode.DENSE) == [(2, 0.5)]


def test_the_second_stage_changes_the_order_and_can_be_switched_off() -> None:
    request = SearchRequest("hanging heart t-light holder", k=3)
    full = make_search().find(request).hits
    plain = make_search(tuning=HybridTuning(rerank=NO_RERANK)).find(request).hits
    assert full[0].product.title == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert [h.score for h in full] != [h.score for h in plain]


def test_candidates_are_none_when_the_hybrid_abstains_or_has_no_words() -> None:
    search = make_search()
    assert search.candidates(SearchRequest("under £2")) is None
    assert search.candidates(SearchRequest("zzzqqq")) is None


@pytest.mark.parametrize("query", ["'; DROP TABLE products; --", "(.*)+[ bag", "bag " * 3000])
def test_bad_input_gets_an_answer_not_an_error(query: str) -> None:
    result = make_search().find(SearchRequest(query))
    assert isinstance(result.hits, list)


def test_swap_serves_the_new_snapshot() -> None:
    search = make_search()
    fewer = PRODUCTS[:5]
    encoder = HashingEncoder(dim=64)
    index = VectorIndex.build([p.id for p in fewer], encoder.encode([product_text(p) for p in fewer]))
    search.swap(SearchSnapshot.build(fewer, index))
    assert {h.product.sku for h in search.find(SearchRequest("bag", k=50)).hits} <= {p.sku for p in fewer}
    with pytest.raises(RetrievalUnavailable):
        search.swap(SearchSnapshot.build(fewer, VectorIndex.build([1], np.ones((1, 8), dtype=np.float32))))


def test_coverage_is_the_best_single_products_idf_weighted_share_of_the_query() -> None:
    snap = make_search().snapshot
    assert snap.bm25.coverage([["lunch"], ["bag"]]) == pytest.approx(1.0)  # LUNCH BAG RED RETROSPOT has both
    partial = snap.bm25.coverage([["lunch"], ["laptop"]])  # "laptop" is in no title and weighs the most
    assert 0.0 < partial < 0.5
    assert snap.bm25.coverage([["laptop"]]) == 0.0
    assert snap.bm25.coverage([]) == 1.0
    only_bunting = np.array([p.sku == "47566" for p in PRODUCTS])
    assert snap.bm25.coverage([["lunch"], ["bag"]], only_bunting) == 0.0
    # a joined word the parser added stands for both of its parts
    assert query_groups("door mat doormat", {"doormat": "door mat"}) == [["door", "doormat"], ["mat", "doormat"]]


def test_a_query_neither_retriever_is_sure_of_gets_no_results_and_a_covered_one_does() -> None:
    strict = make_search(tuning=HybridTuning(coverage_min=0.6, dense_confident=0.99))
    off = make_search(tuning=HybridTuning(coverage_min=0.0, dense_confident=0.99))
    query = "lunch washing machine"  # "lunch" is in titles, "washing machine" in none: most of the query uncovered
    assert off.find(SearchRequest(query, k=5)).hits, "without the rule the word 'lunch' alone answers"
    result = strict.find(SearchRequest(query, k=5))
    assert result.hits == [] and result.empty_reason is None
    covered = strict.find(SearchRequest("lunch bag", k=3)).hits
    assert covered and all("LUNCH BAG" in h.product.title for h in covered)
    # a sure dense retriever vouches for a query whose words nothing covers
    lenient = make_search(tuning=HybridTuning(coverage_min=0.6, dense_confident=-1.0))
    assert lenient.find(SearchRequest(query, k=5)).hits


def test_tuning_values_out_of_range_are_refused_with_the_field_name() -> None:
    with pytest.raises(ValueError, match=r"coverage_min has value 1\.5"):
        HybridTuning(coverage_min=1.5)
    with pytest.raises(ValueError, match="dense_confident"):
        HybridTuning(dense_confident=2.0)


def test_sellable_first_puts_discontinued_products_last_and_keeps_the_rest_in_order() -> None:
    everything = make_search().find(SearchRequest("lunch bag", k=50))
    plain = skus(everything.hits)
    assert not everything.has_more and len(plain) > 8
    gone = set(plain[:2])
    search = make_search(FakeStock(set(), discontinued=gone))
    assert skus(search.find(SearchRequest("lunch bag", k=50)).hits) == plain  # not asked for: relevance alone
    ordered = skus(search.find(SearchRequest("lunch bag", k=50, sellable_first=True)).hits)
    assert ordered == plain[2:] + plain[:2]
    page_two = skus(search.find(SearchRequest("lunch bag", k=4, offset=4, sellable_first=True)).hits)
    assert page_two == ordered[4:8]  # "show more" continues the same order


def test_a_discontinued_product_the_shopper_names_keeps_its_place() -> None:
    search = make_search(FakeStock(set(), discontinued={"20725"}))
    named = search.find(SearchRequest("red retrospot lunch bag", k=3, sellable_first=True)).hits
    assert named[0].product.sku == "20725"
    vague = skus(search.find(SearchRequest("lunch bag", k=50, sellable_first=True)).hits)
    assert vague[-1] == "20725"
