"""Recommender quality and speed on the reference store: every model, two protocols, one run.

Temporal split: the last 4 weeks of purchases are the test weeks, the 4 weeks before them the validation weeks.
Each model family's hyper-parameters are chosen on validation (train before the validation weeks, NDCG@10 on them),
separately per protocol; the chosen configuration is then fitted on everything before the test weeks and scored on
them. Protocols: (a) re-buys count (relevant = all the customer bought in the test weeks), (b) discovery (the
customer's earlier products are excluded from the lists, relevant = products new to them). Targets: under (a) the
chosen model beats repeat purchases by >= 10% relative NDCG@10; under (b) it beats the best of item-kNN, EASE and
ALS by >= 10%. Then the serving path: a full retrain on all purchases (the `python -m recsys build` code) and the
latency of `RecommendationService` per customer.

    PYTHONPATH=. .venv-app/bin/python bench/recsys_quality.py            # full grids, ~4 minutes on 2 cores
    PYTHONPATH=. .venv-app/bin/python bench/recsys_quality.py --quick    # default hyper-parameters only
"""

from __future__ import annotations

import argparse
import importlib
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.settings import load_settings
from catalog.db import make_engine
from recsys.artifact import ensure_artifact
from recsys.evaluate import Candidate, EvalProtocol, Evaluation, evaluate, fit_timed, tune
from recsys.interactions import Interactions, TemporalSplit, evaluation_splits, load_purchase_log
from recsys.recommender import Goal, Recommender
from recsys.recommenders.als import AlsRecommender
from recsys.recommenders.ease import EaseRecommender
from recsys.recommenders.item_knn import ItemKnnRecommender
from recsys.recommenders.popularity import PopularityRecommender
from recsys.recommenders.repeat import RepeatPurchaseRecommender
from recsys.recommenders.rerank import GradientBoostedRerankRecommender
from recsys.service import RecommendationService

INF = float("inf")
REQUIRED_GAIN = 0.10


@dataclass(frozen=True)
class Family:
    name: str
    candidates: Sequence[Candidate]
    protocols: tuple[EvalProtocol, ...] = (EvalProtocol.REBUY, EvalProtocol.DISCOVERY)


def families(quick: bool) -> list[Family]:
    def grid(name: str, configs: list[tuple[str, Any]]) -> list[Candidate]:
        chosen = configs[:1] if quick else configs
        return [Candidate(f"{name}({label})", make) for label, make in chosen]

    return [
        Family(
            "Popularity",
            grid("Popularity", [(f"half_life={h:g}d", lambda h=h: PopularityRecommender(h)) for h in (30, 7, 90)]),
        ),
        Family(
            "RepeatPurchase",
            grid(
                "RepeatPurchase",
                [(f"half_life={h:g}d", lambda h=h: RepeatPurchaseRecommender(h)) for h in (90, 30, 180, 365, INF)],
            ),
        ),
        Family(
            "ItemKnn",
            grid(
                "ItemKnn",
                [
                    (f"k={n},half_life={h:g}d", lambda n=n, h=h: ItemKnnRecommender(n, 10.0, h))
                    for n, h in ((100, INF), (50, INF), (200, INF), (100, 90.0))
                ],
            ),
        ),
        Family(
            "EASE",
            grid("EASE", [(f"l2={l2:g}", lambda l2=l2: EaseRecommender(l2)) for l2 in (500.0, 100.0, 2000.0)]),
        ),
        Family(
            "ALS",
            grid(
                "ALS",
                [
                    (f"f={f},reg={r:g},alpha={a:g}", lambda f=f, r=r, a=a: AlsRecommender(f, r, a))
                    for f, r, a in (
                        (64, 0.05, 10.0),
                        (32, 0.05, 10.0),
                        (128, 0.05, 10.0),
                        (64, 0.05, 2.0),
                        (64, 1.0, 10.0),
                    )
                ],
            ),
        ),
        Family(
            "GBRerank",
            [Candidate("GBRerank(buy_again)", lambda: GradientBoostedRerankRecommender(Goal.BUY_AGAIN))],
            (EvalProtocol.REBUY,),
        ),
        Family(
            "GBRerank",
            [Candidate("GBRerank(discover)", lambda: GradientBoostedRerankRecommender(Goal.DISCOVER))],
            (EvalProtocol.DISCOVERY,),
        ),
    ]


HEADER = (
    f"{'model':<42}{'Recall@10':>10}{'Recall@20':>10}{'NDCG@10':>9}{'MAP@10':>8}{'cover':>7}{'pop%':>6}"
    f"{'train s':>9}{'p50 ms':>8}{'p95 ms':>8}"
)


def row(e: Evaluation) -> str:
    return (
        f"{e.model:<42}{e.recall_10:>10.4f}{e.recall_20:>10.4f}{e.ndcg_10:>9.4f}{e.map_10:>8.4f}{e.coverage:>7.3f}"
        f"{e.popularity_bias:>6.1f}{e.train_seconds:>9.1f}{e.p50_ms:>8.2f}{e.p95_ms:>8.2f}"
    )


def run_protocols(
    validation: TemporalSplit, test: TemporalSplit, quick: bool
) -> tuple[dict[EvalProtocol, list[Evaluation]], dict[EvalProtocol, list[Evaluation]]]:
    """Tune each family on validation, fit the winners on test's train part; results per protocol."""
    on_test: dict[EvalProtocol, list[Evaluation]] = {p: [] for p in EvalProtocol}
    on_validation: dict[EvalProtocol, list[Evaluation]] = {p: [] for p in EvalProtocol}
    for family in families(quick):
        started = time.perf_counter()
        tuned = tune(family.candidates, validation, family.protocols)
        fitted: dict[str, tuple[Recommender, float]] = {}
        for protocol in family.protocols:
            best = tuned.best[protocol]
            on_validation[protocol].append(
                next(e for e in tuned.scores if e.model == best.name and e.protocol is protocol)
            )
            if best.name not in fitted:
                model = best.make()
                fitted[best.name] = (model, fit_timed(model, test))
            model, seconds = fitted[best.name]
            on_test[protocol].append(evaluate(model, test, protocol, best.name, seconds))
        print(
            f"  {family.name}: {len(family.candidates)} configurations, {time.perf_counter() - started:.0f} s",
            flush=True,
        )
    return on_test, on_validation


def gain(results: list[Evaluation], chosen: str, baselines: Sequence[str]) -> tuple[Evaluation, Evaluation, float]:
    model = next(e for e in results if e.model.startswith(chosen))
    baseline = max((e for e in results if e.model.split("(")[0] in baselines), key=lambda e: e.ndcg_10)
    return model, baseline, model.ndcg_10 / baseline.ndcg_10 - 1.0


def serving(database_url: str, customers: list[str], products: list[int]) -> None:
    """Full retrain through the build's own code (`ensure_artifact`: read the DB, train, save) and the latency of
    the service loaded from that artifact."""
    engine = make_engine(database_url)
    with tempfile.TemporaryDirectory() as folder:
        try:
            report = ensure_artifact(engine, Path(folder), force=True)
        finally:
            engine.dispose()
        print(
            f"\nServing: full retrain from the catalog DB ({report.meta.customers:,} customers; read, train, "
            f"precompute lists, save) {report.seconds:.1f} s (target ≤ 60 s)"
        )
        loading = time.perf_counter()
        service = RecommendationService.load(Path(folder))
        print(f"  artifact {report.path.stat().st_size / 1e6:.0f} MB, loaded in {time.perf_counter() - loading:.2f} s")
    calls: list[tuple[str, Any]] = [
        ("recommend, buy again", lambda c, _p: service.recommend(c, Goal.BUY_AGAIN, 10)),
        ("recommend, discover", lambda c, _p: service.recommend(c, Goal.DISCOVER, 10)),
        ("for_customer (both lists)", lambda c, _p: service.for_customer(c, 10)),
        ("similar_to", lambda _c, p: service.similar_to(p, 10)),
        ("bought_together (3 items)", lambda _c, p: service.bought_together([p, p + 1, p + 2], 10)),
        ("unknown customer (cold start)", lambda c, _p: service.for_customer("x" + c, 10)),
    ]
    print(f"  {'call':<32}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}   (target: recommend p95 ≤ 5 ms)")
    for label, call in calls:
        times = []
        for customer, product in zip(customers, products, strict=False):
            begun = time.perf_counter()
            call(customer, product)
            times.append((time.perf_counter() - begun) * 1000)
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        print(f"  {label:<32}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}")


def chart(results: dict[EvalProtocol, list[Evaluation]], path: Path) -> None:
    try:
        pyplot: Any = importlib.import_module("matplotlib.pyplot")
    except ImportError:
        print("\nmatplotlib is not installed: no chart (the tables above are the result)")
        return
    figure, axes = pyplot.subplots(1, 2, figsize=(12, 4.5))
    for axis, (protocol, evaluations) in zip(axes, results.items(), strict=True):
        axis.barh([e.model for e in evaluations], [e.ndcg_10 for e in evaluations])
        axis.set_title(f"NDCG@10, protocol {protocol.value}")
        axis.invert_yaxis()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"\nchart: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="default hyper-parameters only (no tuning grid)")
    parser.add_argument("--weeks", type=int, default=4, help="length of the test and validation windows")
    parser.add_argument("--latency-customers", type=int, default=1000)
    args = parser.parse_args()
    settings = load_settings()
    started = time.perf_counter()
    engine = make_engine(settings.database_url)
    try:
        log = load_purchase_log(engine)
    finally:
        engine.dispose()
    validation, test = evaluation_splits(log, args.weeks)
    print(
        f"{len(log):,} order lines read in {time.perf_counter() - started:.1f} s; "
        f"validation weeks {validation.cutoff:%Y-%m-%d}..{validation.end:%Y-%m-%d} ({len(validation.test)} customers), "
        f"test weeks {test.cutoff:%Y-%m-%d}..{test.end:%Y-%m-%d} ({len(test.test)} customers)"
    )
    on_test, on_validation = run_protocols(validation, test, args.quick)
    titles = {
        EvalProtocol.REBUY: "(a) re-buys count — relevant: everything bought in the test weeks",
        EvalProtocol.DISCOVERY: "(b) discovery — earlier purchases excluded; relevant: new products only",
    }
    targets = {
        EvalProtocol.REBUY: ("GBRerank", ["RepeatPurchase"]),
        EvalProtocol.DISCOVERY: ("GBRerank", ["ItemKnn", "EASE", "ALS"]),
    }
    verdicts = []
    for protocol in EvalProtocol:
        results = sorted(on_test[protocol], key=lambda e: -e.ndcg_10)
        print(f"\n{titles[protocol]} ({results[0].customers} test customers)\n{HEADER}")
        print("\n".join(row(e) for e in results))
        chosen, baselines = targets[protocol]
        model, baseline, relative = gain(results, chosen, baselines)
        val_model, val_baseline, val_relative = gain(on_validation[protocol], chosen, baselines)
        verdict = "met" if relative >= REQUIRED_GAIN else "NOT met"
        print(
            f"chosen {model.model}: NDCG@10 {model.ndcg_10:.4f} vs {baseline.model} {baseline.ndcg_10:.4f} → "
            f"{relative:+.1%} (target ≥ +{REQUIRED_GAIN:.0%}: {verdict}); on validation {val_relative:+.1%} "
            f"({val_model.ndcg_10:.4f} vs {val_baseline.model} {val_baseline.ndcg_10:.4f})"
        )
        verdicts.append(relative >= REQUIRED_GAIN)
    print(
        "\nLatency in the tables: `recommend` per test customer, scored on demand. The served re-rankers precompute"
        " every known customer's candidate scores at build time (same lists), see Serving below."
    )
    chart(on_test, settings.state_dir / "bench" / "recsys_ndcg.png")
    everything = Interactions.from_log(log)
    rng = random.Random(0)
    customers = rng.sample(
        [str(c) for c in everything.customer_ids], min(args.latency_customers, everything.n_customers)
    )
    products = [int(p) for p in rng.choices(everything.item_ids.tolist(), k=len(customers))]
    serving(settings.database_url, customers, products)
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
