"""On the reference store's real catalog DB (built by `make build`): loading, splitting and serving end to end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from assistant.settings import load_settings
from catalog.db import make_engine, require_built
from recsys.artifact import ensure_artifact
from recsys.evaluate import EvalProtocol, evaluate
from recsys.interactions import GUEST, Interactions, PurchaseLog, evaluation_splits, load_purchase_log, to_seconds
from recsys.recommender import ReasonKind
from recsys.recommenders.popularity import PopularityRecommender
from recsys.recommenders.repeat import RepeatPurchaseRecommender
from recsys.service import RecommendationService

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    built = make_engine(load_settings().database_url)
    require_built(built)  # fails with "run `make build`" when the catalog is missing
    yield built
    built.dispose()


@pytest.fixture(scope="module")
def log(engine: Engine) -> PurchaseLog:
    return load_purchase_log(engine)


def test_the_store_loads_with_cancellations_netted_and_guests_apart(log: PurchaseLog) -> None:
    assert len(log) > 800_000
    assert (log.quantity < 0).sum() > 5_000, "the reference store has cancellations"
    cancelled = log.time[log.quantity < 0]
    assert cancelled.max() < to_seconds(datetime(2010, 12, 10)), "the source has cancellations up to 2010-12-09 only"
    data = Interactions.from_log(log)
    assert 5_000 < data.n_customers < 6_000 and 4_000 < data.n_items < 5_000
    assert (data.event_quantity > 0).all()
    assert (data.event_customer == GUEST).sum() > 50_000
    assert data.counts.nnz > 300_000 and data.guest_baskets.shape[0] > 1_000


def test_the_evaluation_split_has_no_leakage(log: PurchaseLog) -> None:
    validation, test = evaluation_splits(log)
    for split in (validation, test):
        assert split.train.event_time.max() < to_seconds(split.cutoff)
        assert len(split.test) > 500
        assert set(split.test) <= set(split.train.customer_index)
    assert validation.end == test.cutoff


def test_repeat_purchases_beat_popularity_when_rebuys_count(log: PurchaseLog) -> None:
    _, test = evaluation_splits(log)
    repeat, popular = RepeatPurchaseRecommender(180.0), PopularityRecommender(30.0)
    repeat.fit(test.train)
    popular.fit(test.train)
    assert evaluate(repeat, test, EvalProtocol.REBUY).ndcg_10 > 2 * evaluate(popular, test, EvalProtocol.REBUY).ndcg_10


def test_the_real_artifact_serves_known_and_unknown_customers(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder: Path = tmp_path_factory.mktemp("recsys")
    report = ensure_artifact(engine, folder)
    assert report.built and report.meta.customers > 5_000
    service = RecommendationService.load(folder)
    customer = "12347"
    answer = service.for_customer(customer, 10)
    assert answer.known and len(answer.buy_again) == 10 and len(answer.discover) == 10
    assert any(r.kind is ReasonKind.BOUGHT_BEFORE for r in answer.buy_again)
    cold = service.for_customer("00000", 10)
    assert not cold.known and len(cold.discover) == 10
    product = answer.buy_again[0].product_id
    assert len(service.similar_to(product, 5)) == 5
    assert len(service.bought_together([product], 5)) == 5
    assert np.isfinite([r.score for r in answer.discover]).all()
