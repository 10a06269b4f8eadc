"""The `Recommender` contract (and `SimilarItems`, `BoughtTogether` where implemented), run against every model."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from recsys.interactions import Interactions
from recsys.recommender import BoughtTogether, Goal, ReasonKind, Recommendation, Recommender, SimilarItems
from recsys.recommenders.als import AlsRecommender
from recsys.recommenders.base import NotFitted, ScoringRecommender
from recsys.recommenders.ease import EaseRecommender
from recsys.recommenders.item_knn import ItemKnnRecommender
from recsys.recommenders.popularity import PopularityRecommender
from recsys.recommenders.repeat import RepeatPurchaseRecommender
from recsys.recommenders.rerank import GradientBoostedRerankRecommender, SignalSettings
from tests.recsys.conftest import NEVER_SOLD

SMALL_SIGNALS = SignalSettings(als_factors=8, als_iterations=5)
MODELS: dict[str, Callable[[], ScoringRecommender]] = {
    "popularity": lambda: PopularityRecommender(30.0),
    "repeat": lambda: RepeatPurchaseRecommender(90.0),
    "item_knn": lambda: ItemKnnRecommender(neighbours=10),
    "als": lambda: AlsRecommender(factors=8, iterations=5),
    "ease": lambda: EaseRecommender(l2=10.0, max_items=15),
    "rerank_buy_again": lambda: GradientBoostedRerankRecommender(Goal.BUY_AGAIN, signals=SMALL_SIGNALS),
    "rerank_discover": lambda: GradientBoostedRerankRecommender(Goal.DISCOVER, signals=SMALL_SIGNALS),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def make(request: pytest.FixtureRequest) -> Callable[[], ScoringRecommender]:
    return MODELS[request.param]


@pytest.fixture(scope="module")
def model(make: Callable[[], ScoringRecommender], synthetic: Interactions) -> ScoringRecommender:
    fitted = make()
    fitted.fit(synthetic)
    return fitted


def customers(data: Interactions) -> list[str]:
    return [str(c) for c in data.customer_ids[:8]]


def check_list(recommendations: list[Recommendation], k: int, data: Interactions) -> None:
    assert len(recommendations) <= k
    ids = [r.product_id for r in recommendations]
    assert len(set(ids)) == len(ids), "no product twice"
    assert set(ids) <= set(data.item_ids.tolist()), "only products with history"
    assert all(a.score >= b.score for a, b in itertools.pairwise(recommendations)), "best first"
    assert all(r.reason.strip() and isinstance(r.kind, ReasonKind) for r in recommendations)


def test_every_model_satisfies_the_protocol(model: ScoringRecommender) -> None:
    assert isinstance(model, Recommender)


@pytest.mark.parametrize("k", [1, 5, 10, 50])
def test_at_most_k_distinct_products_best_first_with_reasons(
    model: ScoringRecommender, synthetic: Interactions, k: int
) -> None:
    for customer in customers(synthetic):
        recommendations = model.recommend(customer, k)
        check_list(recommendations, k, synthetic)
        assert len(recommendations) == min(k, synthetic.n_items), "short lists are filled up"


def test_excluded_products_never_appear(model: ScoringRecommender, synthetic: Interactions) -> None:
    for customer in customers(synthetic):
        top = [r.product_id for r in model.recommend(customer, 6)]
        exclude = set(top[::2]) | {999_999}
        again = model.recommend(customer, 6, exclude)
        assert not {r.product_id for r in again} & exclude
        assert len(again) == 6


def test_excluding_everything_leaves_an_empty_list(model: ScoringRecommender, synthetic: Interactions) -> None:
    everything = set(synthetic.item_ids.tolist())
    assert model.recommend(customers(synthetic)[0], 10, everything) == []


def test_deterministic(
    make: Callable[[], ScoringRecommender], model: ScoringRecommender, synthetic: Interactions
) -> None:
    first = [model.recommend(c, 10) for c in customers(synthetic)]
    assert [model.recommend(c, 10) for c in customers(synthetic)] == first
    refitted = make()
    refitted.fit(synthetic)
    assert [refitted.recommend(c, 10) for c in customers(synthetic)] == first, "a second fit gives the same lists"


@pytest.mark.parametrize("customer", ["99999", "", "not a customer", " 12000"])
def test_unknown_customers_get_the_popular_cold_start(
    model: ScoringRecommender, synthetic: Interactions, customer: str
) -> None:
    recommendations = model.recommend(customer, 5)
    check_list(recommendations, 5, synthetic)
    assert len(recommendations) == 5
    assert {r.kind for r in recommendations} == {ReasonKind.POPULAR}
    assert [r.product_id for r in recommendations] == [r.product_id for r in model.popular(5)]


def test_k_below_one_is_a_programming_error(model: ScoringRecommender, synthetic: Interactions) -> None:
    with pytest.raises(ValueError, match="k has value 0"):
        model.recommend(customers(synthetic)[0], 0)


def test_recommend_before_fit_says_so() -> None:
    for make in MODELS.values():
        with pytest.raises(NotFitted, match="fit"):
            make().recommend("12000")


def test_reasons_name_the_customers_own_product(model: ScoringRecommender, synthetic: Interactions) -> None:
    for customer in customers(synthetic):
        history = synthetic.history(customer)
        for r in model.recommend(customer, 10):
            if r.kind is ReasonKind.BOUGHT_BEFORE:
                assert r.product_id in history and "you bought this" in r.reason
            if r.kind is ReasonKind.BECAUSE_YOU_BOUGHT:
                assert r.related_product_id in history
                assert synthetic.title(r.related_product_id) in r.reason


# SimilarItems and BoughtTogether: the models that implement them.


def item_models() -> list[ScoringRecommender]:
    return [MODELS["item_knn"]()]


@pytest.fixture(scope="module", params=range(len(item_models())))
def item_model(request: pytest.FixtureRequest, synthetic: Interactions) -> ScoringRecommender:
    fitted: ScoringRecommender = item_models()[request.param]
    fitted.fit(synthetic)
    return fitted


def test_similar_items_contract(item_model: ScoringRecommender, synthetic: Interactions) -> None:
    assert isinstance(item_model, SimilarItems)
    for product in synthetic.item_ids[:10].tolist():
        similar = item_model.similar_items(product, 5)
        check_list(similar, 5, synthetic)
        assert similar and product not in {r.product_id for r in similar}
        assert all(r.related_product_id == product for r in similar)
    assert item_model.similar_items(NEVER_SOLD, 5) == [], "a product without history has no neighbours"
    assert item_model.similar_items(123_456, 5) == []


def test_bought_together_contract(item_model: ScoringRecommender, synthetic: Interactions) -> None:
    assert isinstance(item_model, BoughtTogether)
    cart = synthetic.item_ids[:3].tolist()
    together = item_model.bought_together(cart, 8)
    check_list(together, 8, synthetic)
    assert together and not {r.product_id for r in together} & set(cart)
    assert all(r.related_product_id in cart and r.kind is ReasonKind.BOUGHT_WITH for r in together)
    assert item_model.bought_together([], 5) == []
    assert item_model.bought_together([NEVER_SOLD, 123_456], 5) == []
