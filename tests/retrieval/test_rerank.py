"""The hybrid search's second stage: features by hand, scoring, weights."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.rerank import NO_RERANK, QuerySignals, RerankWeights, candidates, title_pairs

TITLES = (
    ["heart", "hang", "decor", "holder"],  # 0: the query's words, but apart
    ["white", "hang", "heart", "holder"],  # 1: "hanging heart" as a phrase
    ["lunch", "bag", "red"],  # 2: unrelated
)
STEMS = tuple(frozenset(t) for t in TITLES)
PAIRS = tuple(title_pairs(t) for t in TITLES)
SUBCATEGORIES = ("home decor", "candles & holders", "bags")
CATEGORIES = ("home_decor", "candles", "bags")


def signals() -> QuerySignals:
    return QuerySignals.of("hanging heart t-light holder", ["hang", "heart", "holder"])


def test_title_pairs_hold_adjacent_words_in_both_orders() -> None:
    assert title_pairs(["a", "b", "c"]) == {("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")}
    assert title_pairs(["a"]) == frozenset()


def test_the_query_signals_name_its_product_type() -> None:
    assert signals().subcategory == "candles & holders"
    assert QuerySignals.of("zzz", ["zzz"]).subcategory is None


def test_features_by_hand() -> None:
    found = candidates(
        lexical=[(0, 8.0), (1, 4.0)],
        dense=[(1, 0.6), (2, 0.4)],
        signals=signals(),
        title_stems=STEMS,
        pairs=PAIRS,
        subcategories=SUBCATEGORIES,
        categories=CATEGORIES,
    )
    assert found.positions.tolist() == [0, 1, 2]
    assert found.lexical.tolist() == [1.0, 0.5, 0.0]
    assert found.dense.tolist() == [0.0, 0.6, 0.4]
    coverage, phrase, subcategory, dense_category = found.features.T
    assert coverage.tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert phrase.tolist() == pytest.approx([0.5, 1.0, 0.0])  # (hang, heart) and (heart, holder)
    assert subcategory.tolist() == [0.0, 1.0, 0.0]
    assert dense_category.tolist() == [0.0, 0.5, 0.5]


def test_scoring_is_fusion_plus_weighted_features() -> None:
    found = candidates([(0, 8.0), (1, 4.0)], [(1, 0.6), (2, 0.4)], signals(), STEMS, PAIRS, SUBCATEGORIES, CATEGORIES)
    plain = dict(found.scored(0.5, NO_RERANK))
    assert plain == pytest.approx({0: 0.5, 1: 0.25 + 0.3, 2: 0.2})
    weights = RerankWeights(title_coverage=0.2, phrase=0.3, subcategory=0.2, dense_category=0.2)
    scored = found.scored(0.5, weights)
    assert [pos for pos, _ in scored] == [1, 0, 2]
    assert dict(scored)[1] == pytest.approx(0.55 + 0.2 + 0.3 + 0.2 + 0.1)


def test_ties_keep_catalogue_order() -> None:
    found = candidates(
        [], [(2, 0.5), (1, 0.5)], QuerySignals.of("zzz", ["zzz"]), STEMS, PAIRS, SUBCATEGORIES, CATEGORIES
    )
    assert [pos for pos, _ in found.scored(0.5, NO_RERANK)] == [1, 2]


def test_weights_outside_0_to_1_are_refused() -> None:
    with pytest.raises(ValueError, match="phrase"):
        RerankWeights(phrase=1.5)
    assert np.array_equal(NO_RERANK.vector(), np.zeros(4))
