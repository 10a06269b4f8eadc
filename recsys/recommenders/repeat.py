"""`RepeatPurchaseRecommender`: the customer's own past items, by frequency and recency (the re-order baseline).

This store sells to many small resellers who re-order the same lines, so "what you bought before, often and
lately" is a strong baseline when re-buys count. Short lists are filled up with popular items.
"""

from __future__ import annotations

import numpy as np

from recsys.interactions import Csr, Interactions
from recsys.recommenders.base import Scores, ScoringRecommender


class RepeatPurchaseRecommender(ScoringRecommender):
    """Score of an own item: sum over the orders that contained it of 2^(-age / half-life)."""

    def __init__(self, half_life_days: float = 90.0) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self._weights: Csr = None

    def _fit(self, interactions: Interactions) -> None:
        self._weights = interactions.pair_matrix(interactions.decay_weights(self.half_life_days))

    def _scores(self, row: int) -> Scores:
        scores = np.full(self.data.n_items, -np.inf)
        start, end = self._weights.indptr[row], self._weights.indptr[row + 1]
        scores[self._weights.indices[start:end]] = self._weights.data[start:end]
        return scores

    def __repr__(self) -> str:
        return f"RepeatPurchaseRecommender(half_life_days={self.half_life_days:g})"
