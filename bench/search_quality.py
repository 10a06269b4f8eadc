"""Search quality on judged shopper queries: BM25-only, dense-only and hybrid, one run, same parser and filters.

The judged set (`bench/data/search_judgments.yml`) has realistic shopper queries over the reference store (typos,
vague and specific, price and colour constraints, some with no correct answer) with graded relevant StockCodes
(see `retrieval.metrics` for the metrics). Queries with an answer give NDCG@10, Recall@20, MRR and the share with
zero results; queries without one give the share answered with zero results ("abstained", higher is better).
Hybrid is also run with the int8 ONNX query encoder (the index is always built by the torch encoder), to check that
the faster encoder keeps the quality. Target: hybrid NDCG@10 ≥ 1.05 × the better of BM25-only and dense-only.

    PYTHONPATH=. .venv-app/bin/python bench/search_quality.py [--judgments FILE] [--show-misses N] [--cross-validate]

The hybrid's second stage (`retrieval.rerank`: title coverage, phrase, subcategory and dense-category features)
has weights fitted on these same queries, so the table's hybrid rows are in-sample. `--cross-validate` prints the
honest figure: 5-fold cross-validation (queries shuffled with a fixed seed) where the weights (and LEXICAL_WEIGHT)
are chosen by coordinate ascent on four folds and scored on the fifth; the pooled held-out NDCG@10 is the estimate
to quote, and each fold's chosen weights are printed so their stability shows.

`--cross-validate` also chooses the hybrid's whole-query abstention (`COVERAGE_MIN`, `DENSE_CONFIDENT` in
`retrieval.hybrid`) by 2-fold cross-validation: the queries are split in two folds (answerable and no-answer ones
alternately, in file order); on each training fold the setting with the most abstention among those that lose at most
`MAX_NDCG_LOSS` NDCG@10 against abstention off is chosen (ties: the least strict), and it is scored on the other
fold. The held-out folds' figures are the estimate; where the folds choose different values, the looser one is
shipped (a real query answered matters more than a nonsense one refused).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import yaml

from assistant.settings import load_settings
from catalog.db import make_engine, require_built
from catalog.repository import SqlProductRepository
from catalog.stock import StockService
from retrieval.encoder import MiniLMEncoder, TextEncoder, Vectors
from retrieval.errors import InvalidQuery
from retrieval.hybrid import FusionMethod, HybridProductSearch, HybridTuning, RetrievalMode, SearchRequest
from retrieval.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from retrieval.onnx_encoder import OnnxMiniLMEncoder
from retrieval.query import ContradictoryFilters
from retrieval.rerank import NO_RERANK, Candidates, RerankWeights
from retrieval.service import open_hybrid_search

DEFAULT_JUDGMENTS = Path(__file__).resolve().parent / "data" / "search_judgments.yml"
REQUIRED_GAIN = 0.05
MAX_NDCG_LOSS = 0.001
CV_FOLDS = 5
FUSION_ONLY_WEIGHT = 0.3
"""LEXICAL_WEIGHT of plain weighted fusion (its best value without the second stage), for the comparison rows."""
CV_SEED = 0
LEXICAL_GRID = (0.1, 0.2, 0.3, 0.4, 0.5)
FEATURE_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)
COVERAGE_GRID = (0.4, 0.5, 0.6, 0.7, 0.8)
CONFIDENT_GRID = (0.45, 0.5, 0.55, 0.6, 0.65)


@dataclass(frozen=True)
class Judged:
    query: str
    grades: dict[str, int]


@dataclass(frozen=True)
class Scores:
    ndcg10: float
    recall20: float
    mrr: float
    zero_rate: float
    abstained: float


def load_judgments(path: Path) -> list[Judged]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Judged(str(item["query"]), {str(k): int(v) for k, v in (item["relevant"] or {}).items()}) for item in raw]


def ranked_skus(
    search: HybridProductSearch, query: str, mode: RetrievalMode, fusion: FusionMethod, k: int = 20
) -> list[str]:
    try:
        result = search.find(SearchRequest(text=query, k=k, mode=mode, fusion=fusion))
    except (InvalidQuery, ContradictoryFilters):
        return []
    return [hit.product.sku for hit in result.hits]


def mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate(
    search: HybridProductSearch, judged: Sequence[Judged], mode: RetrievalMode, fusion: FusionMethod
) -> tuple[Scores, list[float]]:
    ndcg, recall, rr, zero, abstained = [], [], [], [], []
    for item in judged:
        ranked = ranked_skus(search, item.query, mode, fusion)
        if item.grades:
            ndcg.append(ndcg_at_k(ranked, item.grades, 10))
            recall.append(recall_at_k(ranked, item.grades, 20))
            rr.append(reciprocal_rank(ranked, item.grades))
            zero.append(float(not ranked))
        else:
            abstained.append(float(not ranked))
    return Scores(mean(ndcg), mean(recall), mean(rr), mean(zero), mean(abstained)), ndcg


class CachedEncoder:
    """A `TextEncoder` that remembers each query's vector, so a grid of settings encodes every query once."""

    def __init__(self, inner: TextEncoder) -> None:
        self._inner = inner
        self._cache: dict[str, Vectors] = {}
        self.name, self.dim = inner.name, inner.dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        key = "\0".join(texts)
        if key not in self._cache:
            self._cache[key] = self._inner.encode(texts, batch_size=batch_size, progress=progress)
        return self._cache[key]


def folds(judged: Sequence[Judged]) -> tuple[list[Judged], list[Judged]]:
    """Two folds, answerable and no-answer queries alternating in file order (both kinds in both folds)."""
    answerable = [j for j in judged if j.grades]
    none = [j for j in judged if not j.grades]
    return answerable[0::2] + none[0::2], answerable[1::2] + none[1::2]


def choose_tuning(search: HybridProductSearch, train: Sequence[Judged]) -> tuple[HybridTuning, Scores]:
    """The most abstaining setting that costs the training queries at most MAX_NDCG_LOSS NDCG@10."""
    hybrid, weighted = RetrievalMode.HYBRID, FusionMethod.WEIGHTED
    search.tuning = HybridTuning(coverage_min=0.0)
    base, _ = evaluate(search, train, hybrid, weighted)
    best, best_scores = search.tuning, base
    for coverage in COVERAGE_GRID:  # least strict first, so ties keep the looser setting
        for confident in CONFIDENT_GRID:
            search.tuning = HybridTuning(coverage_min=coverage, dense_confident=confident)
            scores, _ = evaluate(search, train, hybrid, weighted)
            if scores.ndcg10 >= base.ndcg10 - MAX_NDCG_LOSS and scores.abstained > best_scores.abstained:
                best, best_scores = search.tuning, scores
    return best, best_scores


def cross_validate(search: HybridProductSearch, judged: Sequence[Judged]) -> None:
    first, second = folds(judged)
    print("\n2-fold cross-validation of the whole-query abstention (hybrid weighted, MiniLM torch):")
    for name, (train, test) in (("A → B", (first, second)), ("B → A", (second, first))):
        tuning, _ = choose_tuning(search, train)
        search.tuning = tuning
        scores, _ = evaluate(search, test, RetrievalMode.HYBRID, FusionMethod.WEIGHTED)
        search.tuning = HybridTuning(coverage_min=0.0)
        off, _ = evaluate(search, test, RetrievalMode.HYBRID, FusionMethod.WEIGHTED)
        print(
            f"  chosen on fold {name[0]}, scored on fold {name[-1]}: COVERAGE_MIN={tuning.coverage_min} "
            f"DENSE_CONFIDENT={tuning.dense_confident} → held-out fold NDCG@10 {scores.ndcg10:.3f} "
            f"(off: {off.ndcg10:.3f}), abstained {scores.abstained:.0%} (off: {off.abstained:.0%})"
        )
    search.tuning = HybridTuning()


Weights = tuple[float, RerankWeights]


Item = tuple[Candidates | list[str], dict[str, int]]
"""A query's candidates (or, when the hybrid has none to score, its fixed result) and its grades."""


def candidate_ndcg(
    found: Candidates | list[str], grades: dict[str, int], skus: Sequence[str], weights: Weights
) -> float:
    if isinstance(found, list):
        return ndcg_at_k(found, grades, 10)
    return ndcg_at_k([skus[pos] for pos, _ in found.scored(weights[0], weights[1])[:10]], grades, 10)


def fit_weights(items: Sequence[Item], skus: Sequence[str]) -> tuple[Weights, float]:
    """Coordinate ascent from plain fusion: each weight in turn takes its grid value with the best mean NDCG@10."""
    names = [f.name for f in fields(RerankWeights)]

    def score(w: Weights) -> float:
        return mean([candidate_ndcg(found, grades, skus, w) for found, grades in items])

    best: Weights = (FUSION_ONLY_WEIGHT, NO_RERANK)
    best_score = score(best)
    for _ in range(3):
        improved = False
        for name in ["lexical_weight", *names]:
            for value in LEXICAL_GRID if name == "lexical_weight" else FEATURE_GRID:
                trial = (value, best[1]) if name == "lexical_weight" else (best[0], replace(best[1], **{name: value}))
                trial_score = score(trial)
                if trial_score > best_score + 1e-9:
                    best, best_score, improved = trial, trial_score, True
        if not improved:
            break
    return best, best_score


def cross_validate_ranking(search: HybridProductSearch, judged: Sequence[Judged]) -> None:
    answerable = [j for j in judged if j.grades]
    skus = [str(s) for s in search.snapshot.skus]
    items: list[Item] = []
    for j in answerable:
        found = search.candidates(SearchRequest(text=j.query, k=20))
        weighted = (RetrievalMode.HYBRID, FusionMethod.WEIGHTED)
        items.append((found if found is not None else ranked_skus(search, j.query, *weighted), j.grades))
    order = np.random.default_rng(CV_SEED).permutation(len(items))
    held_out: list[float] = []
    fusion_only: list[float] = []
    print(f"\n{CV_FOLDS}-fold cross-validation of the hybrid's ranking weights (MiniLM torch):")
    for fold in range(CV_FOLDS):
        test = set(order[fold::CV_FOLDS].tolist())
        train = [items[i] for i in range(len(items)) if i not in test]
        weights, train_score = fit_weights(train, skus)
        tested = [items[i] for i in sorted(test)]
        scores = [candidate_ndcg(found, grades, skus, weights) for found, grades in tested]
        held_out += scores
        fusion_only += [
            candidate_ndcg(found, grades, skus, (FUSION_ONLY_WEIGHT, NO_RERANK)) for found, grades in tested
        ]
        w = weights[1]
        print(
            f"  fold {fold + 1}: LEXICAL_WEIGHT {weights[0]}, title_coverage {w.title_coverage}, phrase {w.phrase}, "
            f"subcategory {w.subcategory}, dense_category {w.dense_category} → train {train_score:.3f}, "
            f"held-out {mean(scores):.3f}"
        )
    (lexical_weight, w), all_score = fit_weights(items, skus)
    print(
        f"  fitted on all queries (what ships in retrieval.rerank): LEXICAL_WEIGHT {lexical_weight}, title_coverage "
        f"{w.title_coverage}, phrase {w.phrase}, subcategory {w.subcategory}, dense_category {w.dense_category} → "
        f"{all_score:.3f} in-sample"
    )
    print(
        f"  held-out NDCG@10 over all {len(held_out)} answerable queries: {mean(held_out):.3f} "
        f"(plain weighted fusion on the same folds: {mean(fusion_only):.3f}); the table's BM25 row is the baseline"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--judgments", type=Path, default=DEFAULT_JUDGMENTS)
    parser.add_argument("--show-misses", type=int, default=0, help="print the N queries where hybrid scores worst")
    parser.add_argument(
        "--cross-validate", action="store_true", help="choose the hybrid's abstention setting by 2-fold CV"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    settings = load_settings()
    engine = make_engine(settings.database_url)
    require_built(engine)
    products = list(SqlProductRepository(engine).iter_all())
    judged = load_judgments(args.judgments)
    answerable = sum(1 for j in judged if j.grades)
    print(
        f"{len(judged)} judged queries ({answerable} with an answer, {len(judged) - answerable} without) "
        f"over {len(products):,} products\n"
    )
    torch_encoder = MiniLMEncoder()
    onnx_encoder = OnnxMiniLMEncoder()
    weighted, rrf = FusionMethod.WEIGHTED, FusionMethod.RRF
    runs: list[tuple[str, TextEncoder, RetrievalMode, FusionMethod]] = [
        ("BM25 only", torch_encoder, RetrievalMode.LEXICAL, weighted),
        ("dense only (MiniLM torch)", torch_encoder, RetrievalMode.DENSE, weighted),
        ("hybrid RRF (MiniLM torch)", torch_encoder, RetrievalMode.HYBRID, rrf),
        ("hybrid fusion only (torch)", torch_encoder, RetrievalMode.HYBRID, weighted),
        ("hybrid weighted (MiniLM torch)", torch_encoder, RetrievalMode.HYBRID, weighted),
        ("dense only (MiniLM int8 ONNX)", onnx_encoder, RetrievalMode.DENSE, weighted),
        ("hybrid weighted (int8 ONNX)", onnx_encoder, RetrievalMode.HYBRID, weighted),
    ]
    header = f"{'retriever':<32}{'NDCG@10':>9}{'Recall@20':>11}{'MRR':>8}{'zero-result':>13}{'abstained':>11}"
    print(header + "\n" + "-" * len(header))
    results: dict[str, Scores] = {}
    per_query: dict[str, list[float]] = {}
    stock = StockService(engine)
    for name, encoder, mode, fusion in runs:
        search = open_hybrid_search(settings.index_path, products, encoder, stock)
        if name.startswith("hybrid fusion only"):
            search.tuning = HybridTuning(lexical_weight=FUSION_ONLY_WEIGHT, rerank=NO_RERANK)
        scores, ndcgs = evaluate(search, judged, mode, fusion)
        results[name], per_query[name] = scores, ndcgs
        print(
            f"{name:<32}{scores.ndcg10:>9.3f}{scores.recall20:>11.3f}{scores.mrr:>8.3f}"
            f"{scores.zero_rate:>13.1%}{scores.abstained:>11.1%}"
        )
    best_single = max(results["BM25 only"].ndcg10, results["dense only (MiniLM torch)"].ndcg10)
    hybrid = results["hybrid weighted (MiniLM torch)"].ndcg10
    gain = hybrid / best_single - 1
    onnx = results["hybrid weighted (int8 ONNX)"].ndcg10
    print(
        f"\nhybrid vs the better single retriever: NDCG@10 {hybrid:.3f} vs {best_single:.3f} = {gain:+.1%} "
        f"(target ≥ +{REQUIRED_GAIN:.0%}: {'met' if gain >= REQUIRED_GAIN else 'NOT met'})"
    )
    print(f"int8 ONNX query encoder vs torch (hybrid): NDCG@10 {onnx:.3f} vs {hybrid:.3f} ({onnx / hybrid - 1:+.2%})")
    if args.cross_validate:
        cross_validate_ranking(open_hybrid_search(settings.index_path, products, torch_encoder, stock), judged)
        cross_validate(open_hybrid_search(settings.index_path, products, CachedEncoder(torch_encoder), stock), judged)
    if args.show_misses:
        answerable_items = [j for j in judged if j.grades]
        worst = np.argsort(per_query["hybrid weighted (MiniLM torch)"])[: args.show_misses]
        for i in worst:
            print(f"  {per_query['hybrid weighted (MiniLM torch)'][i]:.2f}  {answerable_items[i].query}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
