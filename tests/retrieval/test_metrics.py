"""Search metrics against a hand-computed example."""

from __future__ import annotations

import math

import pytest

from retrieval.metrics import ndcg_at_k, recall_at_k, reciprocal_rank

GRADES = {"a": 2, "b": 1, "c": 1}


def test_ndcg_by_hand() -> None:
    # ranked: x, a, c → DCG = 3/log2(3) + 1/log2(4); ideal a, b, c → 3/1 + 1/log2(3) + 1/2
    expected = (3 / math.log2(3) + 1 / 2) / (3 + 1 / math.log2(3) + 1 / 2)
    assert ndcg_at_k(["x", "a", "c"], GRADES, 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "c"], GRADES, 10) == pytest.approx(1.0)
    assert ndcg_at_k([], GRADES, 10) == 0.0
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {}, 10)


def test_recall_is_capped_at_k_and_mrr_takes_the_first_relevant() -> None:
    assert recall_at_k(["x", "a", "c"], GRADES, 20) == pytest.approx(2 / 3)
    assert recall_at_k(["a"], GRADES, 1) == 1.0  # one slot, filled with a relevant product
    assert reciprocal_rank(["x", "y", "b"], GRADES) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x"], GRADES) == 0.0
