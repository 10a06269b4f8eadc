"""`GradientBoostedRerankRecommender`: candidates from several signals, ranked by a learned model.

Re-buy signals (how often, how lately and how regularly the customer bought an item), collaborative ones (ALS,
EASE), and what sells now and what sold in the coming weeks a year ago (this store is seasonal: Christmas stock is
bought from September) each propose candidates; a gradient-boosted classifier (scikit-learn's
`HistGradientBoostingClassifier`) scores every candidate from the features of all signals together.

It learns from the history it is given, without looking past it: `fit` cuts the last `label_weeks` off, builds
candidates and features from the history before that cut, labels the candidates the customer then bought, trains
the classifier, and rebuilds the signals on the whole history for serving. In an evaluation the cut lands inside the
training period (on the validation weeks when fitting for the test), so the test weeks stay unseen.

With nothing to learn from (no customer bought after the cut, e.g. tiny data), it ranks by a fixed rule instead:
own items by recency-weighted orders, then ALS scores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]
from numpy.typing import NDArray

from recsys.interactions import Interactions, TemporalSplit
from recsys.recommender import Goal, ReasonKind
from recsys.recommenders.als import AlsRecommender
from recsys.recommenders.base import Scores, ScoringRecommender
from recsys.recommenders.ease import EaseRecommender

OWN_FEATURES = (
    "own_orders",
    "own_days_since_last",
    "own_days_since_first",
    "own_mean_gap_days",
    "own_due_ratio",
    "own_decayed_30d",
    "own_decayed_365d",
    "own_share_of_orders",
    "own_orders_91d",
    "own_orders_next_4w_last_year",
    "own_units_per_order",
    "own_due_ratio_item_gap",
)
"""Features of the customer's own history with the item: constant (no history) when the goal is discovery."""
SHARED_FEATURES = (
    "als_score",
    "als_rank",
    "ease_score",
    "ease_rank",
    "item_orders_7d",
    "item_orders_28d",
    "item_orders_91d",
    "item_orders_365d",
    "item_orders_next_4w_last_year",
    "item_orders_prev_4w_last_year",
    "item_age_days",
    "item_buyers",
    "item_rebuy_share",
    "item_mean_rebuy_gap_days",
    "item_rebuyers_28d_share",
    "customer_orders",
    "customer_days_since_last_order",
    "customer_items",
    "customer_orders_91d",
    "customer_days_since_first_order",
    "customer_mean_gap_days",
)


def feature_names(goal: Goal) -> tuple[str, ...]:
    return (OWN_FEATURES if goal is Goal.BUY_AGAIN else ()) + SHARED_FEATURES


@cache
def _thread_controller() -> Any:
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped, unused-ignore]

    return ThreadpoolController()


@contextmanager
def single_openmp_thread() -> Iterator[None]:
    """scikit-learn's boosting spins OpenMP threads; on a small shared machine one thread is several times faster."""
    with _thread_controller().limit(limits=1, user_api="openmp"):
        yield


def top_unblocked(scores: NDArray[np.float64], n: int, blocked: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Indexes of the `n` highest finite scores outside `blocked` (any order)."""
    masked = np.where(blocked, -np.inf, scores)
    top = np.argpartition(-masked, n - 1)[:n] if n < len(masked) else np.arange(len(masked))
    return top[np.isfinite(masked[top])].astype(np.int64)


def ranks_within_rows(
    scores: NDArray[np.float64], position: NDArray[np.int64], values: NDArray[np.float64]
) -> NDArray[np.float64]:
    """For each (row position, value), `position` ascending: how many items of that row score strictly higher."""
    ranks = np.empty(len(values))
    width = scores.shape[1]
    bounds = np.searchsorted(position, np.arange(scores.shape[0] + 1))
    for row in range(scores.shape[0]):
        start, end = bounds[row], bounds[row + 1]
        if end > start:
            ranks[start:end] = width - np.searchsorted(np.sort(scores[row]), values[start:end], side="right")
    return ranks


@dataclass(frozen=True)
class SignalSettings:
    """Sizes of the candidate generators and hyper-parameters of the collaborative signals."""

    per_source: int = 40
    """Candidates taken from each source (ALS, EASE, popular now, popular a year ago; own items: twice as many)."""
    als_factors: int = 64
    als_regularization: float = 0.05
    als_alpha: float = 10.0
    als_iterations: int = 15
    ease_l2: float = 500.0
    ease_max_items: int = 2000
    ease_max_history: int = 250
    random_state: int = 42


class CandidateSignals:
    """The candidate generators and features of one period of history (fitted in the constructor)."""

    def __init__(self, interactions: Interactions, settings: SignalSettings) -> None:
        self.data = interactions
        self.settings = settings
        self.als = AlsRecommender(
            settings.als_factors,
            settings.als_regularization,
            settings.als_alpha,
            settings.als_iterations,
            settings.random_state,
        )
        self.als.fit(interactions)
        self.ease = EaseRecommender(settings.ease_l2, settings.ease_max_items, settings.ease_max_history)
        self.ease.fit(interactions)
        self.decayed_30 = interactions.pair_matrix(interactions.decay_weights(30.0))
        self.decayed_365 = interactions.pair_matrix(interactions.decay_weights(365.0))
        age = interactions.event_age_days()
        self.own_91d = interactions.pair_matrix((age < 91.0).astype(np.float64))
        self.own_last_year = interactions.pair_matrix(((age >= 336.0) & (age < 364.0)).astype(np.float64))
        self.units = interactions.pair_matrix(interactions.event_quantity.astype(np.float64))
        counts = interactions.counts
        buyers = np.bincount(counts.indices, minlength=interactions.n_items).astype(np.float64)
        repeated = counts.data > 1
        rebuyers = np.bincount(counts.indices[repeated], minlength=interactions.n_items)
        pair_gaps = (interactions.first_days.data - interactions.last_days.data) / np.maximum(counts.data - 1, 1)
        gap_sums = np.bincount(counts.indices[repeated], weights=pair_gaps[repeated], minlength=interactions.n_items)
        self.item_gap = np.where(rebuyers > 0, gap_sums / np.maximum(rebuyers, 1), np.nan)
        came_back = (interactions.last_days.data < 28.0) & (interactions.first_days.data >= 28.0)
        comebacks = np.bincount(counts.indices[came_back], minlength=interactions.n_items)
        last_year_next = interactions.item_orders(364.0, 336.0)
        self.item_features = np.column_stack(
            [
                interactions.item_orders(7.0),
                interactions.item_orders(28.0),
                interactions.item_orders(91.0),
                interactions.item_orders(365.0),
                last_year_next,
                interactions.item_orders(392.0, 364.0),
                interactions.item_first_days,
                buyers,
                rebuyers / np.maximum(buyers, 1.0),
                self.item_gap,
                comebacks / np.maximum(buyers, 1.0),
            ]
        )
        self.popular_now = np.argsort(-interactions.item_popularity(14.0), kind="stable")
        self.popular_last_year = np.argsort(-last_year_next, kind="stable")
        self.customer_features = self._customer_features(interactions)

    @staticmethod
    def _customer_features(data: Interactions) -> NDArray[np.float64]:
        known = data.event_customer >= 0
        stride = data.n_invoices + 1
        pairs = np.unique(data.event_customer[known] * stride + data.event_invoice[known])
        order_customer, order_invoice = pairs // stride, pairs % stride
        invoice_time = np.zeros(data.n_invoices, dtype=np.int64)
        invoice_time[data.event_invoice] = data.event_time
        order_age = (data.now - invoice_time[order_invoice]) / 86_400
        orders = np.bincount(order_customer, minlength=data.n_customers).astype(np.float64)
        last = np.full(data.n_customers, np.inf)
        np.minimum.at(last, order_customer, order_age)
        recent = np.bincount(order_customer[order_age < 91.0], minlength=data.n_customers).astype(np.float64)
        items = np.diff(data.counts.indptr).astype(np.float64)
        first = np.zeros(data.n_customers)
        np.maximum.at(first, order_customer, order_age)
        mean_gap = np.where(orders > 1, (first - last) / np.maximum(orders - 1, 1), np.nan)
        return np.column_stack([orders, last, items, recent, first, mean_gap])

    def candidates(
        self, rows: NDArray[np.int64], goal: Goal
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """(position in `rows`, item, features) of every candidate of every customer in `rows`."""
        n = self.settings.per_source
        als = self.als.score_rows(rows).astype(np.float64)
        ease = np.nan_to_num(self.ease.score_rows(rows).astype(np.float64), nan=-np.inf)
        positions: list[NDArray[np.int64]] = []
        items: list[NDArray[np.int64]] = []
        counts = self.data.counts
        for position, row in enumerate(rows):
            mine = counts.indices[counts.indptr[row] : counts.indptr[row + 1]]
            sources = []
            blocked = np.zeros(self.data.n_items, dtype=bool)
            if goal is Goal.BUY_AGAIN:
                recency = self.decayed_365.data[counts.indptr[row] : counts.indptr[row + 1]]
                sources.append(mine[np.argsort(-recency, kind="stable")[: 2 * n]].astype(np.int64))
            else:
                blocked[mine] = True
            sources += [top_unblocked(als[position], n, blocked), top_unblocked(ease[position], n, blocked)]
            sources += [order[~blocked[order]][:n] for order in (self.popular_now, self.popular_last_year)]
            chosen = np.unique(np.concatenate(sources))
            positions.append(np.full(len(chosen), position, dtype=np.int64))
            items.append(chosen)
        position_of = np.concatenate(positions)
        item_of = np.concatenate(items)
        features = self._features(rows[position_of], item_of, goal)
        als_scores, ease_scores = als[position_of, item_of], ease[position_of, item_of]
        collaborative = np.column_stack(
            [
                als_scores,
                ranks_within_rows(als, position_of, als_scores),
                np.where(np.isfinite(ease_scores), ease_scores, np.nan),
                ranks_within_rows(ease, position_of, ease_scores),
            ]
        )
        return position_of, item_of, np.column_stack([*features[:1], collaborative, *features[1:]])

    def _features(self, customer: NDArray[np.int64], item: NDArray[np.int64], goal: Goal) -> list[NDArray[Any]]:
        """[own-history block (buy again only), item block, customer block]; the collaborative block goes between."""
        data = self.data
        customer_features = self.customer_features[customer]
        blocks: list[NDArray[Any]] = []
        if goal is Goal.BUY_AGAIN:
            orders = np.nan_to_num(data.pair_values(data.counts, customer, item), nan=0.0)
            since_last = data.pair_values(data.last_days, customer, item)
            since_first = data.pair_values(data.first_days, customer, item)
            gap = np.where(orders > 1, (since_first - since_last) / np.maximum(orders - 1, 1), np.nan)
            blocks.append(
                np.column_stack(
                    [
                        orders,
                        since_last,
                        since_first,
                        gap,
                        since_last / np.maximum(gap, 1.0),
                        np.nan_to_num(data.pair_values(self.decayed_30, customer, item), nan=0.0),
                        np.nan_to_num(data.pair_values(self.decayed_365, customer, item), nan=0.0),
                        orders / np.maximum(customer_features[:, 0], 1.0),
                        np.nan_to_num(data.pair_values(self.own_91d, customer, item), nan=0.0),
                        np.nan_to_num(data.pair_values(self.own_last_year, customer, item), nan=0.0),
                        data.pair_values(self.units, customer, item) / np.maximum(orders, 1.0),
                        since_last / np.maximum(self.item_gap[item], 1.0),
                    ]
                )
            )
        else:
            blocks.append(np.zeros((len(item), 0)))
        blocks += [self.item_features[item], customer_features]
        return blocks

    @staticmethod
    def fallback_scores(features: NDArray[np.float64], goal: Goal) -> NDArray[np.float64]:
        """The fixed rule used when there was nothing to learn from: own items first, then ALS."""
        names = feature_names(goal)
        own = features[:, names.index("own_decayed_365d")] if goal is Goal.BUY_AGAIN else 0.0
        return np.asarray(1000.0 * own + features[:, names.index("als_score")], dtype=np.float64)


@dataclass(frozen=True)
class BoostingSettings:
    trees: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 200
    """Small trees with big leaves: the classifier learns from one window of about a thousand customers."""


def train_ranker(split: TemporalSplit, goal: Goal, signals: CandidateSignals, boosting: BoostingSettings) -> Any:
    """A classifier of "bought in the split's test weeks" over `signals`' candidates (fitted on `split.train`), or
    None when there is nothing to learn from."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped, unused-ignore]

    past = split.train
    rows, wanted = [], []
    for customer_id, bought in split.test.items():
        items = bought if goal is Goal.BUY_AGAIN else bought - past.history(customer_id)
        if items:
            rows.append(past.customer_index[customer_id])
            wanted.append({past.item_index[i] for i in items if i in past.item_index})
    if not rows:
        return None
    position, item, features = signals.candidates(np.array(rows, dtype=np.int64), goal)
    labels = np.array([int(i) in wanted[p] for p, i in zip(position, item, strict=True)])
    if labels.all() or not labels.any():
        return None
    classifier = HistGradientBoostingClassifier(
        max_iter=boosting.trees,
        learning_rate=boosting.learning_rate,
        max_leaf_nodes=boosting.max_leaf_nodes,
        min_samples_leaf=boosting.min_samples_leaf,
        early_stopping=False,
        random_state=signals.settings.random_state,
    )
    with single_openmp_thread():
        classifier.fit(features, labels)
    return classifier


class GradientBoostedRerankRecommender(ScoringRecommender):
    """See the module docstring. `goal` says whether the customer's own items are candidates (buy again) or not."""

    def __init__(
        self,
        goal: Goal = Goal.BUY_AGAIN,
        label_weeks: int = 4,
        boosting: BoostingSettings | None = None,
        signals: SignalSettings | None = None,
    ) -> None:
        super().__init__()
        self.goal = goal
        self.label_weeks = label_weeks
        self.boosting = boosting or BoostingSettings()
        self.signal_settings = signals or SignalSettings()
        self._classifier: Any = None
        self._live: CandidateSignals | None = None
        self._precomputed: Any = None
        """Customer × item CSR of every candidate's score (`precompute`), or None: score on demand."""

    def _fit(self, interactions: Interactions) -> None:
        split = interactions.split_at(self.label_weeks)
        past = CandidateSignals(split.train, self.signal_settings)
        classifier = train_ranker(split, self.goal, past, self.boosting)
        self.adopt(classifier, CandidateSignals(interactions, self.signal_settings))

    def adopt(self, classifier: Any, live: CandidateSignals) -> None:
        """Serve with a trained classifier and signals fitted elsewhere (`fit_rerankers` shares them)."""
        self._data = live.data
        self._popular = live.data.item_popularity(self.popular_half_life_days)
        self._classifier = classifier
        self._live = live
        self._precomputed = None

    def _scores(self, row: int) -> Scores:
        scores = np.full(self.data.n_items, -np.inf)
        if self._precomputed is not None:
            start, end = self._precomputed.indptr[row], self._precomputed.indptr[row + 1]
            scores[self._precomputed.indices[start:end]] = self._precomputed.data[start:end]
            return scores
        _, items, features = self._require_live().candidates(np.array([row], dtype=np.int64), self.goal)
        scores[items] = self._rank(features)
        return scores

    def _rank(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        if self._classifier is None:
            return self._require_live().fallback_scores(features, self.goal)
        with single_openmp_thread():
            return np.asarray(self._classifier.decision_function(features), dtype=np.float64)

    def precompute(self, chunk: int = 256) -> None:
        """Score every known customer's candidates now, so `recommend` only looks them up (the same lists, in a
        fraction of the time). For serving: a customer's lists change only when the catalog is imported again."""
        rows = np.arange(self.data.n_customers, dtype=np.int64)
        indptr, indices, data = [np.zeros(1, dtype=np.int64)], [], []
        for start in range(0, len(rows), chunk):
            batch = rows[start : start + chunk]
            position, items, features = self._require_live().candidates(batch, self.goal)
            indptr.append(indptr[-1][-1] + np.cumsum(np.bincount(position, minlength=len(batch))))
            indices.append(items)
            data.append(self._rank(features))
        self._precomputed = sp.csr_matrix(
            (np.concatenate(data), np.concatenate(indices), np.concatenate(indptr)),
            shape=(self.data.n_customers, self.data.n_items),
        )

    def _reason(self, row: int, item: int) -> tuple[ReasonKind, str, int | None]:
        history = self._history_reason(row, item)
        if history:
            return history
        closest = self._require_live().als.closest_own_item(row, item)
        return self._popular_reason() if closest is None else self._because_you_bought(closest)

    def _require_live(self) -> CandidateSignals:
        if self._live is None:
            _ = self.data  # raises NotFitted
        assert self._live is not None
        return self._live

    def __repr__(self) -> str:
        b, s = self.boosting, self.signal_settings
        return (
            f"GradientBoostedRerankRecommender(goal={self.goal.value}, trees={b.trees}, lr={b.learning_rate:g}, "
            f"leaves={b.max_leaf_nodes}, per_source={s.per_source}, als_factors={s.als_factors})"
        )


def fit_rerankers(
    interactions: Interactions,
    goals: Sequence[Goal],
    label_weeks: int = 4,
    boosting: BoostingSettings | None = None,
    signals: SignalSettings | None = None,
) -> dict[Goal, GradientBoostedRerankRecommender]:
    """One re-ranker per goal, sharing the signals (half the training time of fitting each on its own)."""
    boosting, signals = boosting or BoostingSettings(), signals or SignalSettings()
    split = interactions.split_at(label_weeks)
    past = CandidateSignals(split.train, signals)
    live = CandidateSignals(interactions, signals)
    models = {}
    for goal in goals:
        model = GradientBoostedRerankRecommender(goal, label_weeks, boosting, signals)
        model.adopt(train_ranker(split, goal, past, boosting), live)
        models[goal] = model
    return models
