"""Ranking metrics for one recommendation list (binary relevance) and list-set metrics over many customers.

Per list: `recall_at_k` = hits in the top k / relevant items; `ndcg_at_k` = DCG of the top k (gain 1 at rank r
discounted by log2(r + 1)) / the DCG of an ideal list; `average_precision_at_k` = sum of precision at each hit rank
in the top k / min(k, relevant items). The relevant set must not be empty: a customer without relevant items has no
score and is left out of the average (the evaluation decides who is evaluated).

Over lists: `catalogue_coverage` = distinct recommended products / catalogue size; `popularity_bias` = mean
popularity percentile (0 = least, 100 = most popular item of the catalogue) of every recommended item.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata  # type: ignore[import-untyped, unused-ignore]


def _check(relevant: Collection[int], k: int) -> None:
    if k < 1:
        raise ValueError(f"k has value {k}; expected an integer of at least 1")
    if not relevant:
        raise ValueError("the relevant set is empty; such a customer cannot be scored")


def recall_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    _check(relevant, k)
    return len(set(recommended[:k]) & set(relevant)) / len(relevant)


def ndcg_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    _check(relevant, k)
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


def average_precision_at_k(recommended: Sequence[int], relevant: Collection[int], k: int) -> float:
    _check(relevant, k)
    hits, total = 0, 0.0
    for rank, item in enumerate(recommended[:k]):
        if item in relevant:
            hits += 1
            total += hits / (rank + 1)
    return total / min(k, len(relevant))


def catalogue_coverage(lists: Iterable[Sequence[int]], catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    if catalogue_size < 1:
        raise ValueError(f"catalogue_size has value {catalogue_size}; expected at least 1")
    return len({item for items in lists for item in items}) / catalogue_size


def popularity_percentiles(popularity: Mapping[int, float]) -> dict[int, float]:
    """Product id → percentile of its popularity among all products (ties share the average rank)."""
    if not popularity:
        return {}
    ids = list(popularity)
    if len(ids) == 1:
        return {ids[0]: 100.0}
    ranks = rankdata(np.array([popularity[i] for i in ids], dtype=np.float64), method="average")
    return {i: float((r - 1) / (len(ids) - 1) * 100.0) for i, r in zip(ids, ranks, strict=True)}


def popularity_bias(lists: Iterable[Sequence[int]], percentiles: Mapping[int, float]) -> float:
    """Mean popularity percentile of all recommended items (items missing from `percentiles` count as 0)."""
    values = [percentiles.get(item, 0.0) for items in lists for item in items]
    return float(np.mean(values)) if values else 0.0
