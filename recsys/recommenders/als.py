"""`AlsRecommender`: implicit-feedback matrix factorisation (ALS, Hu, Koren & Volinsky 2008) from `implicit`.

Only the learned factors are kept after `fit`, so serving needs numpy alone and the artifact does not depend on
`implicit`'s own pickling.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recsys.interactions import Interactions
from recsys.recommender import ReasonKind
from recsys.recommenders.base import Scores, ScoringRecommender


class AlsRecommender(ScoringRecommender):
    """Confidence of a customer-item pair: 1 + alpha * log1p(orders that contained it)."""

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        random_state: int = 42,
    ) -> None:
        super().__init__()
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.user_factors: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self.item_factors: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._unit_items: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        from implicit.als import AlternatingLeastSquares  # type: ignore[import-untyped, unused-ignore]
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped, unused-ignore]

        confidence = interactions.counts.copy()
        confidence.data = np.log1p(confidence.data).astype(np.float32)
        with threadpool_limits(1, "blas"):  # implicit runs its own threads; nested BLAS threads only slow it down
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.random_state,
                calculate_training_loss=False,
            )
            model.fit(confidence, show_progress=False)
        self.user_factors = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        norms = np.linalg.norm(self.item_factors, axis=1, keepdims=True)
        self._unit_items = self.item_factors / np.maximum(norms, 1e-12)

    def _scores(self, row: int) -> Scores:
        scores: Scores = (self.item_factors @ self.user_factors[row]).astype(np.float64)
        return scores

    def score_rows(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for several customers at once: (len(rows), n_items)."""
        return self.user_factors[rows] @ self.item_factors.T

    def closest_own_item(self, row: int, item: int) -> int | None:
        """The customer's item most like `item` in factor space (for "because you bought X")."""
        items, _ = self._customer_items(row)
        if not len(items):
            return None
        return int(items[int(np.argmax(self._unit_items[items] @ self._unit_items[item]))])

    def _reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None]:
        history = self._history_reason(row, item)
        if history:
            return history
        closest = self.closest_own_item(row, item)
        return self._popular_reason() if closest is None else self._because_you_bought(closest)

    def __repr__(self) -> str:
        return (
            f"AlsRecommender(factors={self.factors}, regularization={self.regularization:g}, alpha={self.alpha:g}, "
            f"iterations={self.iterations})"
        )
