"""`PopularityRecommender`: the same recency-weighted best sellers for everyone (the floor every model must beat)."""

from __future__ import annotations

from recsys.interactions import Interactions
from recsys.recommenders.base import Scores, ScoringRecommender


class PopularityRecommender(ScoringRecommender):
    """Items ranked by orders that contained them, each order weighted 2^(-age / half-life); guests included."""

    def __init__(self, half_life_days: float = 30.0) -> None:
        super().__init__()
        self.half_life_days = half_life_days
        self.popular_half_life_days = half_life_days

    def _fit(self, interactions: Interactions) -> None:
        pass

    def _scores(self, row: int) -> Scores:
        return self._popular.astype("float64")

    def __repr__(self) -> str:
        return f"PopularityRecommender(half_life_days={self.half_life_days:g})"
