"""The metrics against examples computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from recsys.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ndcg_at_k,
    popularity_bias,
    popularity_percentiles,
    recall_at_k,
)

RANKED = [10, 20, 30, 40, 50]
RELEVANT = {20, 50, 90}
"""Hits at ranks 2 and 5; 90 was never recommended."""


def test_recall() -> None:
    assert recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, RELEVANT, 1) == 0.0
    assert recall_at_k(RANKED, RELEVANT, 20) == pytest.approx(2 / 3)  # a short list is not padded


def test_ndcg() -> None:
    # DCG@5 = 1/log2(3) + 1/log2(6) = 0.630930 + 0.386853 = 1.017783
    # IDCG@5 (3 relevant) = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5 = 2.130930
    assert ndcg_at_k(RANKED, RELEVANT, 5) == pytest.approx(1.017783 / 2.130930, abs=1e-6)
    # @2: DCG = 0.630930; IDCG = 1 + 0.630930
    assert ndcg_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.630930 / 1.630930, abs=1e-6)
    assert ndcg_at_k([20, 50, 90], RELEVANT, 3) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2, 3], RELEVANT, 3) == 0.0


def test_average_precision() -> None:
    # hits at ranks 2 and 5: precisions 1/2 and 2/5; divided by min(k=5, 3 relevant) = 3
    assert average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx((0.5 + 0.4) / 3)
    # @2: one hit at rank 2 (precision 1/2), divided by min(2, 3) = 2
    assert average_precision_at_k(RANKED, RELEVANT, 2) == pytest.approx(0.25)
    assert average_precision_at_k([20, 50, 90], RELEVANT, 10) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [recall_at_k, ndcg_at_k, average_precision_at_k])
def test_an_empty_relevant_set_or_a_bad_k_is_refused(metric: object) -> None:
    assert callable(metric)
    with pytest.raises(ValueError, match="empty"):
        metric(RANKED, set(), 5)
    with pytest.raises(ValueError, match="k has value 0"):
        metric(RANKED, RELEVANT, 0)


def test_coverage() -> None:
    assert catalogue_coverage([[1, 2], [2, 3], []], 10) == pytest.approx(0.3)
    assert catalogue_coverage([], 10) == 0.0
    with pytest.raises(ValueError):
        catalogue_coverage([[1]], 0)


def test_popularity_percentiles_and_bias() -> None:
    percentiles = popularity_percentiles({1: 5.0, 2: 50.0, 3: 500.0, 4: 5000.0, 5: 50000.0})
    assert percentiles == {1: 0.0, 2: 25.0, 3: 50.0, 4: 75.0, 5: 100.0}
    # mean of 100, 0 and 75; an unknown item counts as 0 → (100 + 0 + 75 + 0) / 4
    assert popularity_bias([[5, 1], [4, 99]], percentiles) == pytest.approx(43.75)
    assert popularity_bias([], percentiles) == 0.0


def test_tied_popularities_share_the_average_rank() -> None:
    # ranks 1, 2.5, 2.5, 4 of 4 → (rank - 1) / 3 * 100
    percentiles = popularity_percentiles({1: 1.0, 2: 2.0, 3: 2.0, 4: 3.0})
    assert percentiles[2] == percentiles[3] == pytest.approx(50.0)
    assert percentiles[4] == 100.0 and percentiles[1] == 0.0
    assert math.isclose(popularity_percentiles({7: 3.0})[7], 100.0)
