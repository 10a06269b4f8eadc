"""Ranking metrics for judged search queries (graded relevance: 0 = not relevant, 1 = related, 2 = what was asked).

- NDCG@k: gain 2^grade − 1, discount log2(rank + 1), normalised by the ideal ordering of the judged products.
- Recall@k: relevant products (grade ≥ 1) in the top k over min(relevant, k), so a query with 200 relevant products
  can still reach 1.0 (the plain ratio would cap it at 0.1 and measure catalogue size, not the ranking).
- Reciprocal rank: 1 / rank of the first relevant product (0 when none is in the list).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 10) -> float:
    def dcg(values: Sequence[int]) -> float:
        return float(sum((2.0**g - 1) / math.log2(i + 2) for i, g in enumerate(values[:k])))

    ideal = dcg(sorted(grades.values(), reverse=True))
    if ideal == 0:
        raise ValueError("NDCG needs at least one relevant product")
    return dcg([grades.get(sku, 0) for sku in ranked]) / ideal


def recall_at_k(ranked: Sequence[str], grades: Mapping[str, int], k: int = 20) -> float:
    relevant = {sku for sku, g in grades.items() if g > 0}
    if not relevant:
        raise ValueError("recall needs at least one relevant product")
    return len(relevant.intersection(ranked[:k])) / min(len(relevant), k)


def reciprocal_rank(ranked: Sequence[str], grades: Mapping[str, int]) -> float:
    for i, sku in enumerate(ranked):
        if grades.get(sku, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0
