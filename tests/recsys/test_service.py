"""`RecommendationService`: every question gets an answer; bad input takes the cold-start path, never an exception."""

from __future__ import annotations

import itertools

import pytest

from recsys.artifact import ServingModels, train_serving_models
from recsys.interactions import Interactions
from recsys.recommender import Goal, ReasonKind, Recommendation
from recsys.service import RecommendationService, normalize_customer_id, normalize_product_ids
from tests.recsys.conftest import GROUP_A, NEVER_SOLD

KNOWN = "12000"


@pytest.fixture(scope="module")
def models(synthetic: Interactions) -> ServingModels:
    return train_serving_models(synthetic)


@pytest.fixture(scope="module")
def service(models: ServingModels) -> RecommendationService:
    return RecommendationService(models)


def check(recommendations: list[Recommendation], k: int) -> None:
    assert len(recommendations) == k
    assert len({r.product_id for r in recommendations}) == k
    assert all(a.score >= b.score for a, b in itertools.pairwise(recommendations))
    assert all(r.reason for r in recommendations)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12346", "12346"),
        (" 12346 ", "12346"),
        ("12346.0", "12346"),
        (12346, "12346"),
        ("user-7@example.org", "user-7@example.org"),
        ("", None),
        ("   ", None),
        (None, None),
        (True, None),
        (-5, None),
        (12.5, None),
        ("x" * 500, None),
    ],
)
def test_customer_ids_are_normalized_or_refused(raw: object, expected: str | None) -> None:
    assert normalize_customer_id(raw) == expected


def test_product_ids_are_normalized() -> None:
    assert normalize_product_ids([3, "4", " 5 ", "x", None, 3, True, -1.5]) == [3, 4, 5]


def test_a_known_customer_gets_both_lists(service: RecommendationService, synthetic: Interactions) -> None:
    answer = service.for_customer(KNOWN, 5)
    assert answer.known
    check(answer.buy_again, 5)
    check(answer.discover, 5)
    history = synthetic.history(KNOWN)
    assert any(r.product_id in history for r in answer.buy_again), "buy again holds re-orders"
    assert not {r.product_id for r in answer.discover} & history, "discovery holds only new products"
    assert service.for_customer(" 12000.0 ", 5) == answer


@pytest.mark.parametrize("customer", ["99999", "", None, "not-a-number", 3.14, ["12000"], "x" * 1000])
def test_unknown_or_malformed_customers_get_the_cold_start(service: RecommendationService, customer: object) -> None:
    answer = service.for_customer(customer, 5)
    assert not answer.known and answer.buy_again == []
    check(answer.discover, 5)
    assert {r.kind for r in answer.discover} == {ReasonKind.POPULAR}
    assert answer.discover == service.popular(5)
    check(service.recommend(customer, Goal.BUY_AGAIN, 5), 5)


def test_a_shopper_who_looked_at_products_gets_their_neighbourhood(service: RecommendationService) -> None:
    viewed = GROUP_A[:2]
    answer = service.for_customer(None, 5, viewed=viewed)
    check(answer.discover, 5)
    assert not {r.product_id for r in answer.discover} & set(viewed)
    assert all(r.kind is ReasonKind.ALSO_BOUGHT and r.related_product_id in viewed for r in answer.discover)
    assert service.for_customer(None, 5, viewed=["junk", NEVER_SOLD]).discover == service.popular(5)


def test_exclusions_apply_to_every_list(service: RecommendationService) -> None:
    first = service.for_customer(KNOWN, 5)
    exclude = {first.buy_again[0].product_id, first.discover[0].product_id}
    again = service.for_customer(KNOWN, 5, exclude=exclude)
    assert not {r.product_id for r in again.buy_again + again.discover} & exclude
    check(again.buy_again, 5)
    popular = service.popular(3)
    assert not {r.product_id for r in service.popular(3, exclude={popular[0].product_id})} & {popular[0].product_id}


def test_similar_to(service: RecommendationService) -> None:
    similar = service.similar_to(GROUP_A[0], 5)
    check(similar, 5)
    assert GROUP_A[0] not in {r.product_id for r in similar}
    assert similar[0].kind is ReasonKind.ALSO_BOUGHT and similar[0].related_product_id == GROUP_A[0]
    assert [r.product_id for r in service.similar_to(str(GROUP_A[0]), 5)] == [r.product_id for r in similar]


@pytest.mark.parametrize("product", [NEVER_SOLD, 123_456, "abc", None, -1, 2.5])
def test_products_without_history_get_popular_ones(service: RecommendationService, product: object) -> None:
    answer = service.similar_to(product, 4)
    check(answer, 4)
    assert {r.kind for r in answer} == {ReasonKind.POPULAR}
    assert product not in {r.product_id for r in answer}


def test_bought_together(service: RecommendationService) -> None:
    cart = GROUP_A[:3]
    together = service.bought_together(cart, 6)
    check(together, 6)
    assert not {r.product_id for r in together} & set(cart)
    assert together[0].kind is ReasonKind.BOUGHT_WITH
    assert "often bought with" in together[0].reason
    empty = service.bought_together([], 6)
    check(empty, 6)
    assert {r.kind for r in empty} == {ReasonKind.POPULAR}
    check(service.bought_together(["junk", None, NEVER_SOLD], 6), 6)


def test_out_of_stock_products_are_never_recommended(models: ServingModels) -> None:
    everything = models.neighbours.data.item_ids.tolist()
    out = set(everything[::2])
    service = RecommendationService(models, in_stock=lambda product: product not in out)
    answers = [
        *service.for_customer(KNOWN, 5).buy_again,
        *service.for_customer(KNOWN, 5).discover,
        *service.for_customer("unknown", 5).discover,
        *service.similar_to(GROUP_A[0], 5),
        *service.bought_together(GROUP_A[:2], 5),
        *service.popular(5),
    ]
    assert len(answers) == 30
    assert not {r.product_id for r in answers} & out


def test_nothing_in_stock_gives_empty_lists_not_errors(models: ServingModels) -> None:
    service = RecommendationService(models, in_stock=lambda _product: False)
    assert service.for_customer(KNOWN, 5).discover == []
    assert service.similar_to(GROUP_A[0], 5) == []


def test_k_below_one_is_a_programming_error(service: RecommendationService) -> None:
    with pytest.raises(ValueError, match="k has value 0"):
        service.for_customer(KNOWN, 0)
