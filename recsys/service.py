"""`RecommendationService`: what the assistant asks for, answered from the artifact, never failing on bad input.

Unknown or malformed customer ids, products without history and empty carts all get a cold-start answer
(popular items, or items bought by the customers of the products the shopper looked at), not an exception. Only a
missing artifact is an error (`ModelNotBuilt`, at load time). An optional `in_stock` predicate keeps unavailable
products out of every list once the catalog has stock levels.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from recsys.artifact import ArtifactMeta, ServingModels, load_artifact
from recsys.recommender import Goal, Recommendation, check_k

_NUMBER = re.compile(r"^\s*(\d+)(?:\.0+)?\s*$")
MAX_ID_CHARS = 64


def normalize_customer_id(raw: object) -> str | None:
    """The customer id as the catalog stores it, or None when `raw` cannot be one.

    Strips blanks and a spreadsheet's '.0' ("12346.0" → "12346"); other text is kept as is so a real login's ids work.
    """
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw) if raw >= 0 else None
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_ID_CHARS:
        return None
    match = _NUMBER.match(raw)
    return match.group(1) if match else raw.strip()


def normalize_product_ids(raw: Sequence[object]) -> list[int]:
    """The integer product ids among `raw` (ints or digit strings), in order, without repeats."""
    ids: list[int] = []
    for value in raw:
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            candidate = value
        elif isinstance(value, str) and value.strip().isdigit():
            candidate = int(value.strip())
        else:
            continue
        if candidate not in ids:
            ids.append(candidate)
    return ids


@dataclass(frozen=True)
class CustomerRecommendations:
    known: bool
    """False: an unknown or anonymous shopper, answered by the cold-start path."""
    buy_again: list[Recommendation]
    """The customer's likely re-orders (empty for an unknown shopper)."""
    discover: list[Recommendation]
    """Products new to the customer ("you might also like")."""


class RecommendationService:
    def __init__(
        self,
        models: ServingModels,
        meta: ArtifactMeta | None = None,
        in_stock: Callable[[int], bool] | None = None,
    ) -> None:
        self._models = models
        self.meta = meta
        self._in_stock = in_stock

    @classmethod
    def load(
        cls, directory: Path, fingerprint: str | None = None, in_stock: Callable[[int], bool] | None = None
    ) -> RecommendationService:
        """Load the artifact once. Raises `ModelNotBuilt` (run `make build`) or `RecsysUnavailable`."""
        models, meta = load_artifact(directory, fingerprint)
        return cls(models, meta, in_stock)

    def knows(self, customer_id: object) -> bool:
        normalized = normalize_customer_id(customer_id)
        return normalized is not None and normalized in self._models.buy_again.data.customer_index

    def for_customer(
        self,
        customer_id: object,
        k: int = 10,
        viewed: Sequence[object] = (),
        exclude: Collection[object] = (),
    ) -> CustomerRecommendations:
        """Both personal lists; for an unknown shopper, `discover` comes from the `viewed` products (or popular)."""
        check_k(k)
        normalized = normalize_customer_id(customer_id)
        if normalized is None or not self.knows(normalized):
            return CustomerRecommendations(False, [], self._cold_start(k, normalize_product_ids(viewed), exclude))
        return CustomerRecommendations(
            True,
            self.recommend(normalized, Goal.BUY_AGAIN, k, exclude),
            self.recommend(normalized, Goal.DISCOVER, k, exclude),
        )

    def recommend(
        self, customer_id: object, goal: Goal = Goal.DISCOVER, k: int = 10, exclude: Collection[object] = ()
    ) -> list[Recommendation]:
        """One personal list; popular items for an unknown customer."""
        check_k(k)
        model = self._models.buy_again if goal is Goal.BUY_AGAIN else self._models.discover
        normalized = normalize_customer_id(customer_id) or ""
        excluded = set(normalize_product_ids(list(exclude)))
        return self._available(lambda n: model.recommend(normalized, n, excluded), k)

    def similar_to(self, product_id: object, k: int = 10) -> list[Recommendation]:
        """Products bought by the customers who bought `product_id`; popular ones when it has no history."""
        check_k(k)
        seeds = normalize_product_ids([product_id])
        neighbours = self._models.neighbours
        found = self._available(lambda n: neighbours.similar_items(seeds[0], n), k) if seeds else []
        return self._fill(found, k, set(seeds))

    def bought_together(self, product_ids: Sequence[object], k: int = 10) -> list[Recommendation]:
        """Products often in the same orders as the cart's; popular ones when none of them has history."""
        check_k(k)
        seeds = normalize_product_ids(list(product_ids))
        neighbours = self._models.neighbours
        found = self._available(lambda n: neighbours.bought_together(seeds, n), k) if seeds else []
        return self._fill(found, k, set(seeds))

    def popular(self, k: int = 10, exclude: Collection[object] = ()) -> list[Recommendation]:
        check_k(k)
        excluded = set(normalize_product_ids(list(exclude)))
        return self._available(lambda n: self._models.neighbours.popular(n, excluded), k)

    def _cold_start(self, k: int, viewed: list[int], exclude: Collection[object]) -> list[Recommendation]:
        excluded = set(normalize_product_ids(list(exclude))) | set(viewed)
        neighbours = self._models.neighbours
        found = []
        if viewed:
            found = [
                r
                for r in self._available(
                    lambda n: neighbours.similar_items_of(viewed, n + len(excluded)), k + len(excluded)
                )
                if r.product_id not in excluded
            ][:k]
        return self._fill(found, k, excluded)

    def _fill(self, found: list[Recommendation], k: int, excluded: set[int]) -> list[Recommendation]:
        """Fill a short list up with popular products (scored below the list's last one)."""
        if len(found) >= k:
            return found[:k]
        if not found:
            return self.popular(k, excluded)
        taken = excluded | {r.product_id for r in found}
        floor = found[-1].score
        extra = self.popular(k - len(found), taken)
        return found + [
            Recommendation(r.product_id, floor - n, r.reason, r.kind, r.related_product_id)
            for n, r in enumerate(extra, start=1)
        ]

    def _available(self, fetch: Callable[[int], list[Recommendation]], k: int) -> list[Recommendation]:
        """`fetch(n)` filtered by `in_stock`, asking for more until `k` are left or there are no more."""
        if self._in_stock is None:
            return fetch(k)
        n = 2 * k
        while True:
            fetched = fetch(n)
            kept = [r for r in fetched if self._in_stock(r.product_id)]
            if len(kept) >= k or len(fetched) < n or n >= 64 * k:
                return kept[:k]
            n *= 4
