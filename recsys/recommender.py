"""The recommender interface: one value type, three small Protocols, and the reasons a recommendation can give."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from recsys.interactions import Interactions


class ReasonKind(StrEnum):
    """Why an item is recommended, for callers that word the reason themselves (e.g. a Rasa response per kind)."""

    BOUGHT_BEFORE = "bought_before"
    """The customer bought this item before (a re-buy)."""
    BECAUSE_YOU_BOUGHT = "because_you_bought"
    """Customers who bought `related_product_id` (which this customer bought) also bought this."""
    ALSO_BOUGHT = "also_bought"
    """Customers who bought `related_product_id` also bought this (similar items)."""
    BOUGHT_WITH = "bought_with"
    """Often in the same orders as `related_product_id` (frequently bought together)."""
    POPULAR = "popular"
    """Popular with the store's shoppers recently (cold start, or filling up a short list)."""


class Goal(StrEnum):
    """What a personal list is for."""

    BUY_AGAIN = "buy_again"
    """"Buy again": the customer's own past items may (and mostly will) be in the list."""
    DISCOVER = "discover"
    """"You might also like": only items new to the customer."""


@dataclass(frozen=True)
class Recommendation:
    product_id: int
    score: float
    """The model's score; higher is better. Comparable within one list only."""
    reason: str
    """A short English explanation ("because you bought PINK REGENCY TEACUP"); `kind` says the same for wording."""
    kind: ReasonKind = ReasonKind.POPULAR
    related_product_id: int | None = None
    """The product the reason refers to ("because you bought X"), if any."""


@runtime_checkable
class Recommender(Protocol):
    """Personalised recommendations from purchase history. Unknown customers get the cold-start answer (popular)."""

    def fit(self, interactions: Interactions) -> None: ...

    def recommend(self, customer_id: str, k: int = 10, exclude: set[int] | None = None) -> list[Recommendation]:
        """At most `k` products, best first, none of them in `exclude` (product ids)."""
        ...


@runtime_checkable
class SimilarItems(Protocol):
    def similar_items(self, product_id: int, k: int = 10) -> list[Recommendation]:
        """Products like `product_id`, best first, never itself; empty for a product without history."""
        ...


@runtime_checkable
class BoughtTogether(Protocol):
    def bought_together(self, product_ids: Sequence[int], k: int = 10) -> list[Recommendation]:
        """Products often in the same orders as `product_ids` (a cart), best first, none of `product_ids`."""
        ...


def check_k(k: int) -> None:
    """`k` is set by code, not by shoppers: a value below one is a programming error."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k has value {k!r}; expected an integer of at least 1")
