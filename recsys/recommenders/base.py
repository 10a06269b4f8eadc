"""What every recommender here shares: id lookup, exclusions, best-first lists, cold start and reasons.

A model implements `_fit` and `_scores` (a dense score per item for one known customer, `-inf` for "not a
candidate"); `recommend` does the rest the same way for all of them, so the contract holds by construction:
unknown customers and short lists are answered (or filled up) with recency-weighted popular items.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from recsys.interactions import Interactions, to_datetime
from recsys.recommender import ReasonKind, Recommendation, check_k

Scores = NDArray[np.float64]

POPULAR_HALF_LIFE_DAYS = 30.0
"""Half-life of the popularity used for cold start and to fill up short lists ("popular this month")."""


class NotFitted(RuntimeError):
    """`recommend` before `fit`: a programming error, not a recsys error callers should handle."""


def best_first(scores: Scores, k: int) -> NDArray[np.int64]:
    """Indexes of the (at most) `k` highest finite scores, best first; ties broken by the lower index."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > 4 * k:
        cut = np.partition(scores[finite], len(finite) - k)[len(finite) - k]
        finite = finite[scores[finite] >= cut]
    order = np.lexsort((finite, -scores[finite]))
    return finite[order[:k]].astype(np.int64)


class ScoringRecommender(ABC):
    """Base of the package's recommenders (see the module docstring)."""

    popular_half_life_days: float = POPULAR_HALF_LIFE_DAYS

    def __init__(self) -> None:
        self._data: Interactions | None = None
        self._popular: Scores = np.zeros(0)

    @property
    def data(self) -> Interactions:
        if self._data is None:
            raise NotFitted(f"{type(self).__name__} is not fitted; call fit(interactions) first")
        return self._data

    def fit(self, interactions: Interactions) -> None:
        self._data = interactions
        self._popular = interactions.item_popularity(self.popular_half_life_days)
        self._fit(interactions)

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None: ...

    @abstractmethod
    def _scores(self, row: int) -> Scores:
        """A new array: one score per item for the customer at `row`; -inf where the model has no opinion."""

    def _reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None]:
        """Why `item` is recommended to the customer at `row` (models refine this)."""
        return self._history_reason(row, item) or self._popular_reason()

    def recommend(self, customer_id: str, k: int = 10, exclude: set[int] | None = None) -> list[Recommendation]:
        check_k(k)
        data = self.data
        row = data.customer_index.get(customer_id) if isinstance(customer_id, str) else None
        if row is None:
            return self.popular(k, exclude)
        scores = self._scores(row)
        scores[data.items_of(exclude or ())] = -np.inf
        picked = best_first(scores, k)
        recommendations = [self._recommendation(row, int(i), float(scores[i])) for i in picked]
        if len(recommendations) < k:
            taken = {r.product_id for r in recommendations} | set(exclude or ())
            floor = recommendations[-1].score if recommendations else 0.0
            filler = self.popular(k - len(recommendations), taken)
            recommendations += [
                Recommendation(r.product_id, floor - n, r.reason, r.kind) for n, r in enumerate(filler, start=1)
            ]
        return recommendations

    def popular(self, k: int = 10, exclude: Iterable[int] | None = None) -> list[Recommendation]:
        """The cold-start answer: recency-weighted popular items, none in `exclude`."""
        check_k(k)
        data = self.data
        scores = self._popular.astype(np.float64)
        scores[data.items_of(exclude or ())] = -np.inf
        kind, reason, _ = self._popular_reason()
        return [Recommendation(int(data.item_ids[i]), float(scores[i]), reason, kind) for i in best_first(scores, k)]

    def _recommendation(self, row: int, item: int, score: float) -> Recommendation:
        kind, reason, related = self._reason(row, item)
        return Recommendation(int(self.data.item_ids[item]), score, reason, kind, related)

    def _history_reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None] | None:
        """ "you bought this N times" when the customer bought `item` before, else None."""
        counts = self.data.counts
        start, end = counts.indptr[row], counts.indptr[row + 1]
        at = start + np.searchsorted(counts.indices[start:end], item)
        if at >= end or counts.indices[at] != item:
            return None
        orders = int(counts.data[at])
        last = to_datetime(self.data.now - int(self.data.last_days.data[at] * 86_400)).date()
        times = "once" if orders == 1 else f"{orders} times"
        return ReasonKind.BOUGHT_BEFORE, f"you bought this {times}, last on {last.isoformat()}", None

    def _popular_reason(self) -> tuple[ReasonKind, str, int | None]:
        period = "this month" if self.popular_half_life_days <= 45 else "lately"
        return ReasonKind.POPULAR, f"popular {period}", None

    def _customer_items(self, row: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """Item indexes the customer bought and in how many orders."""
        counts = self.data.counts
        start, end = counts.indptr[row], counts.indptr[row + 1]
        return counts.indices[start:end], counts.data[start:end]

    def _because_you_bought(self, related_item: int) -> tuple[ReasonKind, str, int]:
        product = int(self.data.item_ids[related_item])
        return ReasonKind.BECAUSE_YOU_BOUGHT, f"because you bought {self.data.title(product)}", product
