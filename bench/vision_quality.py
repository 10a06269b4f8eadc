"""Photo → product quality and speed on the grocery store's held-out `val` shelf photos, every method in one run.

Methods (all on the same EfficientNet-Lite embeddings, cached under $SHOPASSIST_CACHE/vision/):
  zero-shot label mapping   ImageNet labels → products by label/product text similarity (MiniLM); no store photo used
  nearest iconic image      cosine similarity to each product's catalogue image
  trained head              logistic regression on the `train` photos (+ mirrored, + iconic images)
  combined                  head and iconic neighbours, weighted log-probabilities (C, weight, temperature tuned on val)
  combined, cross-tuned     the same, tuned on one half of val and scored on the other (both ways): tuning optimism
Printed beside the best published result on this dataset: fully fine-tuned CNNs, 86.0% fine / 92.0% coarse top-1
(on its test split, which is not distributed here). Then per-photo latency (decode + backbone + head + index), one
thread, p50/p95, for each variant and runtime, with torch as the baseline measured in the same run.

    PYTHONPATH=. .venv-app/bin/python bench/vision_quality.py                      # lite2, ONNX (the shipped choice)
    PYTHONPATH=. .venv-app/bin/python bench/vision_quality.py --variants lite0,lite1,lite2
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.settings import load_settings
from catalog.grocery_store import read_split
from retrieval.encoder import MiniLMEncoder
from retrieval.vision.backbone import (
    DEFAULT_SIZE,
    DEFAULT_VARIANT,
    ImageModel,
    OnnxImageModel,
    TorchImageModel,
    Variant,
    export_onnx,
)
from retrieval.vision.embeddings import backbone_name, open_rgb
from retrieval.vision.grocery import (
    C_GRID,
    Accuracy,
    GroceryEmbeddings,
    accuracy,
    fit_head,
    iconic_similarity,
    load_embeddings,
    tune,
)
from retrieval.vision.head import FloatArray, LinearHead, log_softmax
from retrieval.vision.photo_search import Combination, combined_log_proba
from retrieval.vision.zero_shot import LabelTextMapper

PUBLISHED_FINE = 0.860
PUBLISHED_COARSE = 0.920
LATENCY_PHOTOS = 100


def quality(data: GroceryEmbeddings, backbone: str, encoder: MiniLMEncoder) -> list[tuple[str, Accuracy]]:
    val = data.val

    def score(log_proba: FloatArray) -> Accuracy:
        return accuracy(log_proba, val.fine, val.coarse, data.coarse_of_class)

    rows: list[tuple[str, Accuracy]] = []
    texts = [f"{p.title} ({p.coarse_name.replace('-', ' ').lower()})" for p in data.products]
    rows.append(("zero-shot label mapping", score(LabelTextMapper(encoder, texts).log_proba(val.logits))))
    sims = iconic_similarity(data, val.embeddings)
    rows.append(("nearest iconic image", score(log_softmax((sims / 0.05).astype(np.float32)))))
    heads = {c: fit_head(data, backbone, c) for c in C_GRID}
    tuned = tune(data, backbone, heads=heads)
    head = heads[tuned.c]
    rows.append((f"trained head (C={tuned.c:g})", score(head.log_proba(val.embeddings))))
    combo = tuned.combination
    combined = combined_log_proba(head.log_proba(val.embeddings), sims, combo)
    rows.append((f"combined (w={combo.head_weight:g}, T={combo.temperature:g})", score(combined)))
    tta = ((val.embeddings + val.flipped) / 2).astype(np.float32)
    mirrored = combined_log_proba(head.log_proba(tta), iconic_similarity(data, tta), combo)
    rows.append(("combined + mirrored crop (2 passes)", score(mirrored)))
    # Cross-tuning: tune on one half of val, score the other half, both ways; report the pooled predictions.
    order = np.random.default_rng(0).permutation(len(val.fine))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    pooled = np.zeros((len(val.fine), len(data.products)), np.float32)
    for tune_rows, score_rows in (halves, halves[::-1]):
        t = tune(data, backbone, [int(r) for r in tune_rows], heads)
        pooled[score_rows] = combined_log_proba(
            heads[t.c].log_proba(val.embeddings[score_rows]), sims[score_rows], t.combination
        )
    rows.append(("combined, cross-tuned on val halves", score(pooled)))
    return rows


def latency(
    model: ImageModel, files: Sequence[Path], data: GroceryEmbeddings, head: LinearHead, combo: Combination
) -> tuple[float, float]:
    """Per-photo p50/p95 in ms: decode + backbone + head + iconic similarity + combination."""
    times = []
    for path in files:
        started = time.perf_counter()
        features = model.features(open_rgb(path))
        combined_log_proba(head.log_proba(features.embedding), iconic_similarity(data, features.embedding[None]), combo)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--variants", default=DEFAULT_VARIANT.value, help="comma-separated: lite0,lite1,lite2")
    parser.add_argument(
        "--size", type=int, default=None, help=f"input side in px (default: {DEFAULT_SIZE} for lite2, else native)"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    cache = settings.cache_dir / "vision"
    encoder = MiniLMEncoder()
    import torch

    torch.set_num_threads(1)
    latency_rows = []
    for variant in (Variant(v) for v in args.variants.split(",")):
        size = args.size or (DEFAULT_SIZE if variant is DEFAULT_VARIANT else variant.image_size)
        onnx = OnnxImageModel(export_onnx(variant, cache / "onnx", size), variant, threads=1, size=size)
        backbone = backbone_name(onnx)
        data = load_embeddings(onnx, settings.grocery_data_dir, cache / "embeddings")
        print(
            f"\nGrocery store, val = {len(data.val.fine)} shelf photos, {len(data.products)} products, "
            f"EfficientNet-{variant.value} ({size}px)"
        )
        print(f"{'method':<42}{'top-1':>8}{'top-5':>8}{'coarse@1':>10}{'coarse@5':>10}")
        for name, acc in quality(data, backbone, encoder):
            print(f"{name:<42}{acc.top1:>8.1%}{acc.top5:>8.1%}{acc.coarse_top1:>10.1%}{acc.coarse_top5:>10.1%}")
        print(f"{'published: fine-tuned CNNs (test split)':<42}{PUBLISHED_FINE:>8.1%}{'':>8}{PUBLISHED_COARSE:>10.1%}")
        files = [p.path for p in read_split(settings.grocery_data_dir, "val")][:LATENCY_PHOTOS]
        torch_model = TorchImageModel(variant, size=size)
        for model in (torch_model, onnx):
            for path in files[:5]:
                model.features(open_rgb(path))  # warm-up
        head = fit_head(data, backbone, C_GRID[-1])
        base = latency(torch_model, files, data, head, Combination())
        fast = latency(onnx, files, data, head, Combination())
        latency_rows.append((f"{variant.value}@{size}", "torch", *base, 1.0))
        latency_rows.append((f"{variant.value}@{size}", "onnx", *fast, base[0] / fast[0]))
    print(f"\nPer-photo latency, one thread, {LATENCY_PHOTOS} val photos (decode + backbone + head + iconic index)")
    print(f"{'variant':<12}{'runtime':<8}{'p50 ms':>9}{'p95 ms':>9}{'speed-up vs torch (p50)':>26}")
    for variant_name, runtime, p50, p95, ratio in latency_rows:
        print(f"{variant_name:<12}{runtime:<8}{p50:>9.1f}{p95:>9.1f}{ratio:>25.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
