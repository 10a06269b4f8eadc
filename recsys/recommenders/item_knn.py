"""`ItemKnnRecommender`: items bought by the same customers (cosine of co-purchase), also "bought together".

Two co-occurrence tables, both pruned to each item's nearest `neighbours`:

- customers: item × item cosine over customers' purchase sets, each guest checkout counting as a one-order
  customer; drives personal recommendations and `similar_items` ("customers who bought X also bought this");
- orders: the same over single orders (guests included); drives `bought_together` ("often bought with X").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from recsys.interactions import Csr, Interactions
from recsys.recommender import ReasonKind, Recommendation, check_k
from recsys.recommenders.base import Scores, ScoringRecommender, best_first


def cosine_neighbours(rows: Csr, neighbours: int, shrink: float = 0.0) -> Csr:
    """Item × item CSR: cosine of the columns of binary `rows`, each item keeping its `neighbours` most similar.

    `shrink` damps similarities resting on few co-occurrences: co / (sqrt(n_i n_j) + shrink).
    """
    binary = rows.copy().tocsr()
    binary.data[:] = 1.0
    co = (binary.T @ binary).toarray().astype(np.float32)
    sizes = np.diag(co).copy()
    np.fill_diagonal(co, 0.0)
    co /= np.sqrt(np.outer(sizes, sizes)) + shrink + 1e-12
    n_items = co.shape[0]
    keep = min(neighbours, max(n_items - 1, 1))
    if keep < n_items:
        top = np.argpartition(-co, keep - 1, axis=1)[:, :keep]
    else:
        top = np.tile(np.arange(n_items), (n_items, 1))
    values = np.take_along_axis(co, top, axis=1)
    matrix = sp.csr_matrix(
        (values.ravel(), (np.repeat(np.arange(n_items), top.shape[1]), top.ravel())), shape=(n_items, n_items)
    )
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


class ItemKnnRecommender(ScoringRecommender):
    """Score of an item: sum over the customer's items of their similarity to it, each weighted by the orders it was
    in (2^(-age / half_life_days) per order: with a finite half-life recent orders weigh more).

    Implements `SimilarItems` and `BoughtTogether` too.
    """

    def __init__(self, neighbours: int = 100, shrink: float = 10.0, half_life_days: float = float("inf")) -> None:
        super().__init__()
        self.neighbours = neighbours
        self.shrink = shrink
        self.half_life_days = half_life_days
        self._similar: Csr = None
        self._similar_by_column: Csr = None
        self._together: Csr = None
        self._weights: Csr = None

    def _fit(self, interactions: Interactions) -> None:
        customers = sp.vstack([interactions.counts, interactions.guest_baskets]).tocsr()
        self._similar = cosine_neighbours(customers, self.neighbours, self.shrink)
        self._similar_by_column = self._similar.T.tocsr()
        self._together = cosine_neighbours(interactions.baskets, self.neighbours, self.shrink)
        self._weights = interactions.pair_matrix(interactions.decay_weights(self.half_life_days))

    def _user(self, row: int) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        start, end = self._weights.indptr[row], self._weights.indptr[row + 1]
        return self._weights.indices[start:end], self._weights.data[start:end]

    def _scores(self, row: int) -> Scores:
        items, weights = self._user(row)
        similar = self._similar
        starts, ends = similar.indptr[items], similar.indptr[items + 1]
        lengths = ends - starts
        at = np.repeat(ends - lengths.cumsum(), lengths) + np.arange(lengths.sum())
        contributions = similar.data[at] * np.repeat(weights, lengths)
        scores = np.bincount(similar.indices[at], weights=contributions, minlength=self.data.n_items).astype(np.float64)
        scores[scores <= 0] = -np.inf
        return scores

    def _reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None]:
        history = self._history_reason(row, item)
        if history:
            return history
        items, weights = self._user(row)
        column = self._similar_by_column
        sources = column.indices[column.indptr[item] : column.indptr[item + 1]]
        similarity = column.data[column.indptr[item] : column.indptr[item + 1]]
        position = np.searchsorted(items, sources)
        mine = position < len(items)
        mine[mine] = items[position[mine]] == sources[mine]
        if not mine.any():
            return self._popular_reason()
        contributions = similarity[mine] * weights[position[mine]]
        return self._because_you_bought(int(sources[mine][int(np.argmax(contributions))]))

    def similar_items(self, product_id: int, k: int = 10) -> list[Recommendation]:
        """Products most bought by the same customers; empty for a product without history."""
        return self._neighbours(self._similar, [product_id], k, ReasonKind.ALSO_BOUGHT)

    def similar_items_of(self, product_ids: Sequence[int], k: int = 10) -> list[Recommendation]:
        """Products most bought by the customers of any of `product_ids` (e.g. what a shopper looked at)."""
        return self._neighbours(self._similar, product_ids, k, ReasonKind.ALSO_BOUGHT)

    def bought_together(self, product_ids: Sequence[int], k: int = 10) -> list[Recommendation]:
        """Products most often in the same orders as any of `product_ids`; empty if none of them has history."""
        return self._neighbours(self._together, product_ids, k, ReasonKind.BOUGHT_WITH)

    def _neighbours(self, table: Csr, product_ids: Sequence[int], k: int, kind: ReasonKind) -> list[Recommendation]:
        check_k(k)
        data = self.data
        seeds = np.unique(data.items_of(p for p in product_ids if isinstance(p, int)))
        if not len(seeds):
            return []
        rows = table[seeds]
        scores = np.asarray(rows.sum(axis=0), dtype=np.float64).ravel()
        scores[seeds] = 0.0
        scores[scores <= 0] = -np.inf
        picked = best_first(scores, k)
        best_seed = seeds[np.asarray(rows[:, picked].argmax(axis=0)).ravel()] if len(picked) else []
        results = []
        for item, seed in zip(picked, best_seed, strict=True):
            seed_id = int(data.item_ids[seed])
            text = (
                f"customers who bought {data.title(seed_id)} also bought this"
                if kind is ReasonKind.ALSO_BOUGHT
                else f"often bought with {data.title(seed_id)}"
            )
            results.append(Recommendation(int(data.item_ids[item]), float(scores[item]), text, kind, seed_id))
        return results

    def __repr__(self) -> str:
        return (
            f"ItemKnnRecommender(neighbours={self.neighbours}, shrink={self.shrink:g}, "
            f"half_life_days={self.half_life_days:g})"
        )
