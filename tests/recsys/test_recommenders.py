"""What each technique computes: exact references on small data, and the signal each one should pick up."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import scipy.sparse as sp  # type: ignore[import-untyped, unused-ignore]

from recsys.interactions import Interactions, PurchaseLog
from recsys.recommender import Goal, ReasonKind
from recsys.recommenders.als import AlsRecommender
from recsys.recommenders.base import ScoringRecommender
from recsys.recommenders.ease import EaseRecommender
from recsys.recommenders.item_knn import ItemKnnRecommender, cosine_neighbours
from recsys.recommenders.popularity import PopularityRecommender
from recsys.recommenders.repeat import RepeatPurchaseRecommender
from recsys.recommenders.rerank import GradientBoostedRerankRecommender, SignalSettings, feature_names
from tests.recsys.conftest import EVERYONE, GROUP_A, GROUP_B, TITLES, synthetic_records

T0 = datetime(2011, 1, 3, 9, 0)


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def test_repeat_purchases_weigh_frequency_against_recency() -> None:
    log = PurchaseLog.from_records(
        [
            ("1", "A", 1, 1, at(0)),
            ("2", "A", 1, 1, at(1)),
            ("3", "A", 1, 1, at(2)),
            ("4", "A", 2, 1, at(100)),
            ("9", "B", 3, 1, at(50)),
        ]
    )
    data = Interactions.from_log(log, now=at(101))
    often = RepeatPurchaseRecommender(float("inf"))
    often.fit(data)
    lately = RepeatPurchaseRecommender(10.0)
    lately.fit(data)
    assert [r.product_id for r in often.recommend("A", 2)] == [1, 2]
    assert [r.product_id for r in lately.recommend("A", 2)] == [2, 1]
    assert often.recommend("A", 2)[0].score == pytest.approx(3.0)
    assert lately.recommend("A", 2)[0].score == pytest.approx(2 ** (-0.1), rel=1e-3)
    filled = often.recommend("A", 3)
    assert filled[2].product_id == 3 and filled[2].kind is ReasonKind.POPULAR, "own items first, then popular"


def test_popularity_is_recency_weighted() -> None:
    log = PurchaseLog.from_records(
        [(str(n), None, 1, 1, at(0)) for n in range(3)] + [(str(10 + n), "A", 2, 1, at(60)) for n in range(2)]
    )
    data = Interactions.from_log(log, now=at(60))
    recent = PopularityRecommender(7.0)
    recent.fit(data)
    all_time = PopularityRecommender(float("inf"))
    all_time.fit(data)
    assert [r.product_id for r in recent.popular(2)] == [2, 1]
    assert [r.product_id for r in all_time.popular(2)] == [1, 2], "guests' orders count for popularity"


def test_cosine_neighbours_match_brute_force() -> None:
    rng = np.random.default_rng(1)
    dense = (rng.random((40, 12)) < 0.3).astype(np.float32)
    co = dense.T @ dense
    norms = np.sqrt(np.outer(np.diag(co), np.diag(co)))
    expected = np.divide(co, norms, out=np.zeros_like(co), where=norms > 0)
    np.fill_diagonal(expected, 0.0)
    full = cosine_neighbours(sp.csr_matrix(dense), neighbours=12).toarray()
    np.testing.assert_allclose(full, expected, atol=1e-5)
    pruned = cosine_neighbours(sp.csr_matrix(dense), neighbours=3).toarray()
    assert ((pruned > 0).sum(axis=1) <= 3).all()
    for item in range(12):
        kept = np.flatnonzero(pruned[item])
        assert np.allclose(pruned[item, kept], expected[item, kept])
        assert expected[item, kept].min() >= np.sort(expected[item])[-3] - 1e-6, "the 3 most similar are kept"


def test_item_knn_scores_sum_the_similarities_of_the_customers_items(synthetic: Interactions) -> None:
    model = ItemKnnRecommender(neighbours=10, shrink=0.0)
    model.fit(synthetic)
    similar = model._similar.toarray()
    for row in range(5):
        orders = synthetic.counts[row].toarray().ravel()  # each item weighs the orders it was in
        expected = orders @ similar
        scores = model._scores(row)
        assert np.allclose(np.where(np.isfinite(scores), scores, 0.0), expected, atol=1e-5)


def test_ease_is_the_closed_form(synthetic: Interactions) -> None:
    model = EaseRecommender(l2=5.0, max_items=synthetic.n_items)
    model.fit(synthetic)
    x = (synthetic.counts.toarray() > 0).astype(np.float64)
    inverse = np.linalg.inv(x.T @ x + 5.0 * np.eye(synthetic.n_items))
    expected = -inverse / np.diag(inverse)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model._weights, expected, atol=1e-4)
    scores = model._scores(0)
    np.testing.assert_allclose(scores, x[0] @ expected, atol=1e-4)


def test_ease_keeps_the_most_bought_items_only(synthetic: Interactions) -> None:
    model = EaseRecommender(l2=5.0, max_items=5)
    model.fit(synthetic)
    buyers = (synthetic.counts.toarray() > 0).sum(axis=0)
    kept = set(np.argsort(-buyers, kind="stable")[:5].tolist())
    assert set(model._kept.tolist()) == kept
    assert np.isneginf(np.delete(model._scores(0), sorted(kept))).all()


def share_in_own_group(model: ScoringRecommender, data: Interactions) -> float:
    """Share of discovery recommendations (own items excluded) that are of the customer's own taste group."""
    right, total = 0, 0
    for number, customer in enumerate(data.customer_ids.tolist()):
        group = set((GROUP_A if (int(customer) - 12000) % 2 == 0 else GROUP_B) + EVERYONE)
        for r in model.recommend(customer, 3, set(data.history(customer))):
            right += r.product_id in group
            total += 1
        if number > 20:
            break
    return right / total


@pytest.mark.parametrize(
    "make",
    [
        lambda: AlsRecommender(factors=8, iterations=10),
        lambda: EaseRecommender(l2=10.0),
        lambda: ItemKnnRecommender(),
        lambda: GradientBoostedRerankRecommender(Goal.DISCOVER),
    ],
    ids=["als", "ease", "item_knn", "rerank"],
)
def test_collaborative_models_recommend_from_the_customers_taste(make: object, synthetic: Interactions) -> None:
    assert callable(make)
    model = make()
    model.fit(synthetic)
    popularity = PopularityRecommender(30.0)
    popularity.fit(synthetic)
    assert share_in_own_group(model, synthetic) >= 0.8
    assert share_in_own_group(model, synthetic) > share_in_own_group(popularity, synthetic)


def test_the_reranker_learns_a_classifier_when_customers_bought_after_its_cut(synthetic: Interactions) -> None:
    model = GradientBoostedRerankRecommender(Goal.BUY_AGAIN)
    model.fit(synthetic)
    assert model._classifier is not None
    assert model._classifier.n_features_in_ == len(feature_names(Goal.BUY_AGAIN))
    discover = GradientBoostedRerankRecommender(Goal.DISCOVER)
    discover.fit(synthetic)
    assert discover._classifier.n_features_in_ == len(feature_names(Goal.DISCOVER))


def test_the_reranker_falls_back_to_a_fixed_rule_without_anything_to_learn_from() -> None:
    records = synthetic_records(weeks=20)
    last = max(r[4] for r in records)
    data = Interactions.from_log(PurchaseLog.from_records(records, TITLES), now=last + timedelta(weeks=6))
    model = GradientBoostedRerankRecommender(Goal.BUY_AGAIN)
    model.fit(data)
    assert model._classifier is None
    customer = str(data.customer_ids[0])
    top = model.recommend(customer, 3)
    assert len(top) == 3 and all(r.kind is ReasonKind.BOUGHT_BEFORE for r in top), "own items first"
    discover = GradientBoostedRerankRecommender(Goal.DISCOVER)
    discover.fit(data)
    assert not {r.product_id for r in discover.recommend(customer, 5)} & data.history(customer)


def test_the_discovery_reranker_never_proposes_own_items(synthetic: Interactions) -> None:
    model = GradientBoostedRerankRecommender(Goal.DISCOVER)
    model.fit(synthetic)
    for customer in synthetic.customer_ids[:10].tolist():
        history = synthetic.history(customer)
        recommendations = model.recommend(customer, 5)
        assert recommendations and not {r.product_id for r in recommendations} & history


def test_precomputed_lists_are_the_lists_computed_on_demand(synthetic: Interactions) -> None:
    for goal in Goal:
        model = GradientBoostedRerankRecommender(goal, signals=SignalSettings(als_factors=8, als_iterations=5))
        model.fit(synthetic)
        customers = synthetic.customer_ids.tolist()
        on_demand = [model.recommend(c, 10) for c in customers]
        model.precompute(chunk=7)
        assert model._precomputed is not None
        assert [model.recommend(c, 10) for c in customers] == on_demand
        exclude = {r.product_id for r in on_demand[0][:3]}
        assert not {r.product_id for r in model.recommend(customers[0], 10, exclude)} & exclude
        model.fit(synthetic.split_at(4).train)
        assert model._precomputed is None, "a new fit drops the lists of the old one"
