"""`EaseRecommender`: EASE (Steck 2019), a closed-form item-item linear model, on the most popular items.

B = I - P / diag(P) with P = (XᵀX + λI)⁻¹ over the `max_items` items bought by the most customers, so the Gram
matrix stays small (2,000² floats: 16 MB, inverted in about a second). Other items are never recommended by it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recsys.interactions import Interactions
from recsys.recommender import ReasonKind
from recsys.recommenders.base import Scores, ScoringRecommender


class EaseRecommender(ScoringRecommender):
    def __init__(self, l2: float = 500.0, max_items: int = 2000, max_history: int | None = None) -> None:
        super().__init__()
        self.l2 = l2
        self.max_items = max_items
        self.max_history = max_history
        """Score from at most this many of the customer's most recently bought items (bounds the latency of
        resellers with thousands of items); None: all of them."""
        self._kept: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        """Item indexes in the model, in `_weights` order."""
        self._position: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        """Item index → row in `_weights`, or -1."""
        self._weights: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        binary = interactions.counts.copy()
        binary.data[:] = 1.0
        buyers = np.asarray(binary.sum(axis=0)).ravel()
        self._kept = np.sort(np.argsort(-buyers, kind="stable")[: self.max_items]).astype(np.int64)
        self._position = np.full(interactions.n_items, -1, dtype=np.int64)
        self._position[self._kept] = np.arange(len(self._kept))
        x = binary[:, self._kept]
        gram = (x.T @ x).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.l2
        inverse = np.linalg.inv(gram)
        weights = -inverse / np.diag(inverse)
        np.fill_diagonal(weights, 0.0)
        self._weights = weights.astype(np.float32)

    def _own(self, row: int) -> NDArray[np.int64]:
        """Rows of `_weights` of the customer's items (the most recent `max_history` of them)."""
        items, _ = self._customer_items(row)
        positions = self._position[items]
        if self.max_history is not None and len(items) > self.max_history:
            last = self.data.last_days
            recency = last.data[last.indptr[row] : last.indptr[row + 1]]
            positions = positions[np.argsort(recency, kind="stable")[: self.max_history]]
        return positions[positions >= 0]

    def _scores(self, row: int) -> Scores:
        scores = np.full(self.data.n_items, -np.inf)
        own = self._own(row)
        if len(own):
            scores[self._kept] = self._weights[own].sum(axis=0)
        return scores

    def score_rows(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for several customers at once: (len(rows), n_items), NaN for items not modelled."""
        scores = np.full((len(rows), self.data.n_items), np.nan, dtype=np.float32)
        for position, row in enumerate(rows):
            scores[position, self._kept] = self._weights[self._own(int(row))].sum(axis=0)
        return scores

    def _reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None]:
        history = self._history_reason(row, item)
        if history:
            return history
        own = self._own(row)
        if not len(own) or self._position[item] < 0:
            return self._popular_reason()
        contributions = self._weights[own, self._position[item]]
        if contributions.max() <= 0:
            return self._popular_reason()
        return self._because_you_bought(int(self._kept[own[int(np.argmax(contributions))]]))

    def __repr__(self) -> str:
        history = "" if self.max_history is None else f", max_history={self.max_history}"
        return f"EaseRecommender(l2={self.l2:g}, max_items={self.max_items}{history})"
