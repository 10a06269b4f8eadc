"""Offline evaluation on a temporal split, under the two protocols the assistant uses, and tuning on validation.

- `EvalProtocol.REBUY` (a), "buy again": the lists may hold what the customer bought before; relevant = every
  product the customer bought in the test weeks.
- `EvalProtocol.DISCOVERY` (b), "you might also like": the customer's earlier products are excluded from the lists
  (`exclude=`), relevant = only products new to the customer; customers who bought nothing new are left out.

Every model is asked through its public `recommend`, one customer at a time, so the measured latency is what the
assistant would see. Tune on the validation split (`tune`), then fit once on the test split's train part and report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from recsys.interactions import TemporalSplit
from recsys.metrics import (
    average_precision_at_k,
    catalogue_coverage,
    ndcg_at_k,
    popularity_bias,
    popularity_percentiles,
    recall_at_k,
)
from recsys.recommender import Recommender


class EvalProtocol(StrEnum):
    REBUY = "rebuy"
    """(a) re-buys count: relevant = everything bought in the test weeks."""
    DISCOVERY = "discovery"
    """(b) discovery: earlier purchases excluded from the lists and from the relevant set."""


@dataclass(frozen=True)
class Evaluation:
    model: str
    protocol: EvalProtocol
    customers: int
    recall_10: float
    recall_20: float
    ndcg_10: float
    map_10: float
    coverage: float
    """Share of the catalogue (products with history in train) in at least one top-10 list."""
    popularity_bias: float
    """Mean popularity percentile of the recommended top-10 items (50 = unbiased, 100 = only best sellers)."""
    train_seconds: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Candidate:
    """One model configuration to try: a label and a factory of an unfitted model."""

    name: str
    make: Callable[[], Recommender]


def fit_timed(model: Recommender, split: TemporalSplit) -> float:
    """Fit `model` on the split's train part; seconds taken."""
    started = time.perf_counter()
    model.fit(split.train)
    return time.perf_counter() - started


def evaluate(
    model: Recommender,
    split: TemporalSplit,
    protocol: EvalProtocol,
    name: str | None = None,
    train_seconds: float = 0.0,
) -> Evaluation:
    """Score a fitted `model` on the split's test customers under `protocol`."""
    train = split.train
    percentiles = popularity_percentiles(
        dict(zip(train.item_ids.tolist(), train.item_popularity().tolist(), strict=True))
    )
    recalls_10, recalls_20, ndcgs, maps, latencies = [], [], [], [], []
    top10_lists: list[list[int]] = []
    for customer_id, bought in split.test.items():
        history = train.history(customer_id)
        relevant = bought if protocol is EvalProtocol.REBUY else bought - history
        if not relevant:
            continue
        exclude = set(history) if protocol is EvalProtocol.DISCOVERY else None
        started = time.perf_counter()
        recommendations = model.recommend(customer_id, 20, exclude)
        latencies.append(time.perf_counter() - started)
        ranked = [r.product_id for r in recommendations]
        recalls_10.append(recall_at_k(ranked, relevant, 10))
        recalls_20.append(recall_at_k(ranked, relevant, 20))
        ndcgs.append(ndcg_at_k(ranked, relevant, 10))
        maps.append(average_precision_at_k(ranked, relevant, 10))
        top10_lists.append(ranked[:10])
    milliseconds = np.array(latencies) * 1000.0 if latencies else np.zeros(1)
    return Evaluation(
        model=name or repr(model),
        protocol=protocol,
        customers=len(ndcgs),
        recall_10=float(np.mean(recalls_10)) if recalls_10 else 0.0,
        recall_20=float(np.mean(recalls_20)) if recalls_20 else 0.0,
        ndcg_10=float(np.mean(ndcgs)) if ndcgs else 0.0,
        map_10=float(np.mean(maps)) if maps else 0.0,
        coverage=catalogue_coverage(top10_lists, max(train.n_items, 1)),
        popularity_bias=popularity_bias(top10_lists, percentiles),
        train_seconds=train_seconds,
        p50_ms=float(np.percentile(milliseconds, 50)),
        p95_ms=float(np.percentile(milliseconds, 95)),
    )


@dataclass(frozen=True)
class Tuned:
    """The best candidate per protocol on validation, and every candidate's validation scores."""

    best: Mapping[EvalProtocol, Candidate]
    scores: Sequence[Evaluation]


def tune(
    candidates: Sequence[Candidate],
    validation: TemporalSplit,
    protocols: Sequence[EvalProtocol] = (EvalProtocol.REBUY, EvalProtocol.DISCOVERY),
) -> Tuned:
    """Fit each candidate once on validation's train part; pick the best NDCG@10 per protocol (first one on ties)."""
    if not candidates:
        raise ValueError("tune needs at least one candidate")
    scores: list[Evaluation] = []
    best: dict[EvalProtocol, tuple[float, Candidate]] = {}
    for candidate in candidates:
        model = candidate.make()
        seconds = fit_timed(model, validation)
        for protocol in protocols:
            result = evaluate(model, validation, protocol, candidate.name, seconds)
            scores.append(result)
            if protocol not in best or result.ndcg_10 > best[protocol][0]:
                best[protocol] = (result.ndcg_10, candidate)
    return Tuned({protocol: candidate for protocol, (_, candidate) in best.items()}, scores)
