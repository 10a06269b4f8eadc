"""The grocery store's visual matching: embeddings of its photos, the trained head, the iconic-image index, the tuning
of their combination on the `val` photos, and the artifacts the action server loads.

Training data: the `train` shelf photos plus their mirror images (augmentation), and each product's iconic image
(plain and mirrored) as two more examples of its class. Tuning: the head's regularisation C, the head/iconic weight
and the iconic temperature are chosen by top-1 accuracy on `val`. `bench/vision_quality.py` also reports a
cross-tuned figure (tune on one half of `val`, score the other) so the tuning's own optimism is visible.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.grocery_store import GroceryProduct, read_products, read_split
from retrieval.index import VectorIndex
from retrieval.vision.backbone import ImageModel
from retrieval.vision.embeddings import backbone_name, embed_files
from retrieval.vision.errors import VisionUnavailable
from retrieval.vision.head import LinearHead, latest_path, normalise
from retrieval.vision.photo_search import Combination, combined_log_proba

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
HEAD_NAME = "grocery-head"
ICONIC_INDEX = "iconic.faiss"
COMBINATION_FILE = "combination.json"
C_GRID = (30.0, 100.0, 300.0)
WEIGHT_GRID = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TEMPERATURE_GRID = (0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Split:
    embeddings: FloatArray
    flipped: FloatArray
    logits: FloatArray
    fine: IntArray
    coarse: IntArray


@dataclass(frozen=True)
class GroceryEmbeddings:
    products: list[GroceryProduct]
    train: Split
    val: Split
    iconic: FloatArray
    iconic_flipped: FloatArray

    @property
    def product_ids(self) -> list[int]:
        return [p.product_id for p in self.products]

    @property
    def coarse_of_class(self) -> IntArray:
        return np.asarray([p.coarse_id for p in self.products], dtype=np.int64)


def load_embeddings(
    model: ImageModel, data_dir: Path, cache_dir: Path | None, progress: bool = True
) -> GroceryEmbeddings:
    """Embed (or read from the cache) every train, val and iconic photo, plain and mirrored."""
    products = read_products(data_dir)
    if [p.class_id for p in products] != list(range(len(products))):
        raise VisionUnavailable(f"{data_dir}/classes.csv must number its classes 0..n-1 without gaps")

    def split(name: str) -> Split:
        photos = read_split(data_dir, name)
        files = [p.path for p in photos]
        plain = embed_files(model, files, cache_dir, progress=progress, desc=f"{name} photos")
        mirrored = embed_files(model, files, cache_dir, flip=True, progress=progress, desc=f"{name} mirrored")
        return Split(
            plain.embeddings,
            mirrored.embeddings,
            plain.logits,
            np.asarray([p.class_id for p in photos], dtype=np.int64),
            np.asarray([p.coarse_id for p in photos], dtype=np.int64),
        )

    icons = [p.iconic_image for p in products]
    iconic = embed_files(model, icons, cache_dir, progress=progress, desc="iconic images")
    iconic_flipped = embed_files(model, icons, cache_dir, flip=True, progress=progress, desc="iconic mirrored")
    return GroceryEmbeddings(products, split("train"), split("val"), iconic.embeddings, iconic_flipped.embeddings)


def fit_head(data: GroceryEmbeddings, backbone: str, c: float) -> LinearHead:
    """The head on train photos (plain + mirrored) and the iconic images (plain + mirrored)."""
    n = len(data.products)
    x = np.concatenate([data.train.embeddings, data.train.flipped, data.iconic, data.iconic_flipped])
    y = np.concatenate([data.train.fine, data.train.fine, np.arange(n), np.arange(n)]).astype(np.int64)
    return LinearHead.fit(x, y, [p.title for p in data.products], backbone, c=c)


def iconic_similarity(data: GroceryEmbeddings, queries: FloatArray) -> FloatArray:
    """Cosine similarity of each query embedding to each product's iconic image (mean of plain and mirrored)."""
    icons = normalise(normalise(data.iconic) + normalise(data.iconic_flipped))
    return (normalise(queries) @ icons.T).astype(np.float32)


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    coarse_top1: float
    coarse_top5: float


def accuracy(log_proba: FloatArray, fine: IntArray, coarse: IntArray, coarse_of_class: IntArray) -> Accuracy:
    """Top-1/top-5 product accuracy, and coarse accuracy from the products' probabilities summed per coarse class."""
    order = np.argsort(-log_proba, axis=1)
    top1 = float(np.mean(order[:, 0] == fine))
    top5 = float(np.mean([f in row[:5] for f, row in zip(fine, order, strict=True)]))
    n_coarse = int(coarse_of_class.max()) + 1
    p = np.exp(log_proba)
    coarse_p = np.zeros((len(p), n_coarse), np.float32)
    for cls, group in enumerate(coarse_of_class):
        coarse_p[:, group] += p[:, cls]
    corder = np.argsort(-coarse_p, axis=1)
    ctop1 = float(np.mean(corder[:, 0] == coarse))
    ctop5 = float(np.mean([c in row[:5] for c, row in zip(coarse, corder, strict=True)]))
    return Accuracy(top1, top5, ctop1, ctop5)


@dataclass(frozen=True)
class Tuned:
    c: float
    combination: Combination
    val_top1: float


def tune(
    data: GroceryEmbeddings,
    backbone: str,
    rows: Sequence[int] | None = None,
    heads: dict[float, LinearHead] | None = None,
) -> Tuned:
    """Choose C, the head weight and the temperature by top-1 accuracy on the `val` rows given (all by default)."""
    picked = np.arange(len(data.val.fine)) if rows is None else np.asarray(rows)
    heads = heads if heads is not None else {c: fit_head(data, backbone, c) for c in C_GRID}
    sims = iconic_similarity(data, data.val.embeddings[picked])
    fine = data.val.fine[picked]
    best: Tuned | None = None
    for c, head in heads.items():
        head_lp = head.log_proba(data.val.embeddings[picked])
        for weight, temperature in itertools.product(WEIGHT_GRID, TEMPERATURE_GRID):
            combination = Combination(head_weight=weight, temperature=temperature)
            top1 = float(np.mean(np.argmax(combined_log_proba(head_lp, sims, combination), axis=1) == fine))
            if best is None or top1 > best.val_top1:
                best = Tuned(c, combination, top1)
    assert best is not None
    return best


def rejection_threshold(
    data: GroceryEmbeddings, head: LinearHead, combination: Combination, keep: float = 0.99
) -> float:
    """The best product's combined probability below which a photo is answered with "nothing we sell looks like
    this": the level that `keep` of the real `val` shelf photos reach (a cat photo scores far below it)."""
    sims = iconic_similarity(data, data.val.embeddings)
    best = np.exp(combined_log_proba(head.log_proba(data.val.embeddings), sims, combination).max(axis=1))
    return float(np.percentile(best, 100 * (1 - keep)))


def save_artifacts(
    folder: Path, data: GroceryEmbeddings, head: LinearHead, tuned: Tuned, metrics: dict[str, float]
) -> Path:
    """Write the head (next version), the iconic-image index and the tuned combination into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = head.save(folder, HEAD_NAME, metrics)
    icons = normalise(normalise(data.iconic) + normalise(data.iconic_flipped))
    VectorIndex.build(data.product_ids, icons).save(
        folder / ICONIC_INDEX, model=head.info.backbone, fingerprint=head.info.trained_at
    )
    (folder / COMBINATION_FILE).write_text(
        json.dumps({"c": tuned.c, "val_top1": tuned.val_top1, **asdict(tuned.combination)}, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


def load_artifacts(folder: Path, model: ImageModel) -> tuple[LinearHead, VectorIndex, Combination]:
    """The saved head, iconic-image index and combination; checks they were made with `model`'s backbone."""
    head = LinearHead.load(latest_path(folder, HEAD_NAME))
    if head.info.backbone != backbone_name(model):
        raise VisionUnavailable(
            f"the grocery head in {folder} was trained on {head.info.backbone}, not {backbone_name(model)}; "
            "run `python -m retrieval.vision build`"
        )
    index = VectorIndex.load(folder / ICONIC_INDEX, expected_dim=1280, expected_model=head.info.backbone)
    try:
        raw = json.loads((folder / COMBINATION_FILE).read_text(encoding="utf-8"))
        combination = Combination(
            head_weight=float(raw["head_weight"]),
            temperature=float(raw["temperature"]),
            min_probability=float(raw.get("min_probability", 0.0)),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise VisionUnavailable(
            f"unreadable {folder / COMBINATION_FILE}: {exc}; run `python -m retrieval.vision build`"
        ) from exc
    return head, index, combination
