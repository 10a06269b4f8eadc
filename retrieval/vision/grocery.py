"""The grocery store's visual matching: embeddings of its photos, the trained head, the iconic-image index, the
choice of every hyperparameter by cross-validation on `train`, the out-of-store refusal, and the artifacts the
action server loads.

Training data: the `train` shelf photos plain, mirrored and in `TRAIN_COPIES` augmented copies (random resized crops
and mild colour jitter, `augment.py`), plus each product's iconic image plain, mirrored and in `ICONIC_COPIES`
augmented copies, all as embeddings cached under `$SHOPASSIST_CACHE`.

Protocol: `val` is never used to choose anything. The head's C, the head/iconic weight, the iconic temperature,
whether a mirrored second pass is worth it, and the refusal threshold are chosen on out-of-fold predictions of a
5-fold cross-validation on `train`. Its photos come in runs of near-duplicates (the same shelf shot a few times;
nearest-neighbour cosine similarity 0.91 inside `train` against 0.79 from `val` to `train`), so the folds are
grouped: within each product, photos are clustered by average linkage at cosine similarity `GROUP_MIN_SIMILARITY`
and whole clusters go to one fold (every fold still has every product). Without grouping the out-of-fold top-1 was
97%, with it ~80%, near what `val` then gives: a fold has to look like a new day in the shop. `val` is scored once,
after everything is fixed (`bench/vision_quality.py`, and the metrics saved with the artifact).

Refusal ("nothing we sell looks like this"): a photo whose embedding is far from every photo the store has (train
shelf photos and iconic images; cosine similarity of the nearest one below `Combination.min_similarity`) is not
matched. The threshold is the similarity that `KEEP` (99%) of train photos reach when their own product's shelf
photos are left out (leave-one-product-out: only the product's catalogue image and the other products' photos
remain), so a shelf photo passes even on a day, or for a packaging, unlike any photo seen in training. Real
out-of-store photos are far below it (an espresso cup 0.29, a cat 0.35, against ~0.61). The head's probability
alone cannot do this: a softmax over 81 products is confident about an espresso cup.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.grocery_store import GroceryProduct, read_products, read_split
from retrieval.index import VectorIndex
from retrieval.vision.augment import embed_augmented
from retrieval.vision.backbone import ImageModel
from retrieval.vision.embeddings import backbone_name, embed_files
from retrieval.vision.errors import VisionUnavailable
from retrieval.vision.head import LinearHead, latest_path, normalise
from retrieval.vision.photo_search import Combination, combined_log_proba, nearest_similarity

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
HEAD_NAME = "grocery-head"
ICONIC_INDEX = "iconic.faiss"
REFERENCE_FILE = "reference.npy"
COMBINATION_FILE = "combination.json"
FOLDS = 5
GROUP_MIN_SIMILARITY = 0.8
"""Photos of one product closer than this (average-linkage cosine similarity) share a cross-validation fold."""
TRAIN_COPIES = 3
"""Augmented copies of each train photo: 1 copy added ~1.8 points of out-of-fold top-1, 3 copies ~0.2 more."""
ICONIC_COPIES = 8
FLIP_TTA = False
"""No mirrored second pass when serving. It gained +0.7 points of out-of-fold top-1 (81.3% vs 80.6%) but costs a
second backbone pass: measured p50 60 / p95 81 ms per photo on one idle core against the 60 ms p95 budget (one
pass: 31 / 32 ms), so the budget allows one pass (`bench/vision_quality.py` prints both)."""
KEEP = 0.99
"""Share of (out-of-fold) in-store photos the refusal must let through."""
C_GRID = (300.0, 1000.0, 3000.0)
WEIGHT_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
TEMPERATURE_GRID = (0.02, 0.05, 0.1)


@dataclass(frozen=True)
class Split:
    embeddings: FloatArray
    flipped: FloatArray
    logits: FloatArray
    fine: IntArray
    coarse: IntArray
    augmented: FloatArray
    """copies × photos × 1280 (no copies for `val`)."""

    def queries(self, flip_tta: bool) -> FloatArray:
        """What a served photo looks like to the head: its embedding, or the mean of it and its mirror image."""
        if not flip_tta:
            return self.embeddings
        return mirrored_mean(self.embeddings, self.flipped)


@dataclass(frozen=True)
class GroceryEmbeddings:
    products: list[GroceryProduct]
    train: Split
    val: Split
    iconic: FloatArray
    iconic_flipped: FloatArray
    iconic_augmented: FloatArray
    """copies × products × 1280."""

    @property
    def product_ids(self) -> list[int]:
        return [p.product_id for p in self.products]

    @property
    def coarse_of_class(self) -> IntArray:
        return np.asarray([p.coarse_id for p in self.products], dtype=np.int64)


def mirrored_mean(plain: FloatArray, flipped: FloatArray) -> FloatArray:
    """Test-time augmentation: the mean of the normalised embeddings of a photo and its mirror image."""
    result: FloatArray = ((normalise(plain) + normalise(flipped)) / 2).astype(np.float32)
    return result


def load_embeddings(
    model: ImageModel,
    data_dir: Path,
    cache_dir: Path | None,
    progress: bool = True,
    train_copies: int = TRAIN_COPIES,
    iconic_copies: int = ICONIC_COPIES,
) -> GroceryEmbeddings:
    """Embed (or read from the cache) every train, val and iconic photo, plain and mirrored, and the augmented
    copies of the train and iconic photos."""
    products = read_products(data_dir)
    if [p.class_id for p in products] != list(range(len(products))):
        raise VisionUnavailable(f"{data_dir}/classes.csv must number its classes 0..n-1 without gaps")

    def copies(files: list[Path], count: int, desc: str) -> FloatArray:
        views = [embed_augmented(model, files, cache_dir, c, progress=progress, desc=desc) for c in range(count)]
        return np.stack([v.embeddings for v in views]) if views else np.zeros((0, len(files), 1280), np.float32)

    def split(name: str, augmented: int) -> Split:
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
            copies(files, augmented, f"{name} augmented"),
        )

    icons = [p.iconic_image for p in products]
    iconic = embed_files(model, icons, cache_dir, progress=progress, desc="iconic images")
    iconic_flipped = embed_files(model, icons, cache_dir, flip=True, progress=progress, desc="iconic mirrored")
    return GroceryEmbeddings(
        products,
        split("train", train_copies),
        split("val", 0),
        iconic.embeddings,
        iconic_flipped.embeddings,
        copies(icons, iconic_copies, "iconic augmented"),
    )


def grouped_folds(
    embeddings: FloatArray, fine: IntArray, folds: int = FOLDS, min_similarity: float = GROUP_MIN_SIMILARITY
) -> IntArray:
    """A fold number per photo: within each class, clusters of near-duplicates (average linkage, cosine similarity
    ≥ `min_similarity`) go whole to the fold that has the fewest photos of that class so far, largest first."""
    from scipy.cluster.hierarchy import fcluster, linkage

    unit = normalise(embeddings)
    result = np.zeros(len(fine), np.int64)
    for cls in np.unique(fine):
        rows = np.flatnonzero(fine == cls)
        if len(rows) > 1:
            clusters = fcluster(linkage(unit[rows], "average", metric="cosine"), 1 - min_similarity, "distance")
        else:
            clusters = np.ones(1, np.int64)
        groups = sorted((np.flatnonzero(clusters == g) for g in np.unique(clusters)), key=lambda g: (-len(g), g[0]))
        filled = np.zeros(folds)
        for group in groups:
            fold = int(np.argmin(filled))
            result[rows[group]] = fold
            filled[fold] += len(group)
    return result


def training_set(data: GroceryEmbeddings, rows: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Embeddings and classes the head learns from: the train photos in `rows` (all by default) plain, mirrored and
    augmented, and every iconic image plain, mirrored and augmented."""
    picked = np.arange(len(data.train.fine)) if rows is None else rows
    n = len(data.products)
    train_views = [data.train.embeddings[picked], data.train.flipped[picked], *data.train.augmented[:, picked]]
    icon_views = [data.iconic, data.iconic_flipped, *data.iconic_augmented]
    x = np.concatenate([*train_views, *icon_views]).astype(np.float32)
    y = np.concatenate([data.train.fine[picked]] * len(train_views) + [np.arange(n)] * len(icon_views))
    return x, y.astype(np.int64)


def fit_head(data: GroceryEmbeddings, backbone: str, c: float, rows: IntArray | None = None) -> LinearHead:
    x, y = training_set(data, rows)
    return LinearHead.fit(x, y, [p.title for p in data.products], backbone, c=c)


def iconic_vectors(data: GroceryEmbeddings) -> FloatArray:
    """One vector per product: the normalised mean of its iconic image and the mirror image."""
    return normalise(normalise(data.iconic) + normalise(data.iconic_flipped))


def iconic_similarity(data: GroceryEmbeddings, queries: FloatArray) -> FloatArray:
    """Cosine similarity of each query embedding to each product's iconic image (mean of plain and mirrored)."""
    return (normalise(queries) @ iconic_vectors(data).T).astype(np.float32)


def reference_vectors(data: GroceryEmbeddings, rows: IntArray | None = None) -> FloatArray:
    """What "a photo of this store" means for the refusal: the train photos in `rows` and the iconic images."""
    picked = np.arange(len(data.train.fine)) if rows is None else rows
    return normalise(np.concatenate([data.train.embeddings[picked], data.iconic]))


def leave_one_product_out_similarity(data: GroceryEmbeddings) -> FloatArray:
    """Each train photo's similarity to the nearest reference photo of the other products (plus every iconic image)."""
    unit = normalise(data.train.embeddings)
    icons = normalise(data.iconic)
    result = np.zeros(len(unit), np.float32)
    for cls in np.unique(data.train.fine):
        own = data.train.fine == cls
        result[own] = nearest_similarity(unit[own], np.concatenate([unit[~own], icons]))
    return result


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
    """Hyperparameters chosen by grouped cross-validation on `train`, with the out-of-fold figures behind them."""

    c: float
    combination: Combination
    cv: Accuracy
    """Out-of-fold accuracy of the chosen setting (train photos, grouped folds)."""
    cv_head: Accuracy
    """The same for the head alone (weight 1)."""
    cv_pass_rate: float
    """Share of train photos the refusal lets through with their own product's photos left out (≥ KEEP)."""


def cross_validate(
    data: GroceryEmbeddings,
    backbone: str,
    folds: IntArray,
    c_grid: Sequence[float] = C_GRID,
    flip_tta: bool = False,
    keep: float = KEEP,
    heads: dict[tuple[int, float], LinearHead] | None = None,
) -> Tuned:
    """Choose C, the head weight and temperature (by out-of-fold top-1) and the refusal threshold (the
    leave-one-product-out nearest-photo similarity that `keep` of train photos reach), all on `train` only.
    `heads` memoises the fold heads by (fold, C) between calls on the same data and folds (with and without
    `flip_tta`)."""
    heads = {} if heads is None else heads
    train = data.train
    queries = train.queries(flip_tta)
    n_classes = len(data.products)
    out_of_fold = {c: np.zeros((len(train.fine), n_classes), np.float32) for c in c_grid}
    for fold in np.unique(folds):
        held = np.flatnonzero(folds == fold)
        kept = np.flatnonzero(folds != fold)
        for c in c_grid:
            if (int(fold), c) not in heads:
                heads[int(fold), c] = fit_head(data, backbone, c, kept)
            out_of_fold[c][held] = heads[int(fold), c].log_proba(queries[held])
    nearest = leave_one_product_out_similarity(data)
    sims = iconic_similarity(data, queries)
    best: tuple[float, float, Combination] | None = None
    for c in c_grid:
        for weight, temperature in itertools.product(WEIGHT_GRID, TEMPERATURE_GRID):
            combination = Combination(head_weight=weight, temperature=temperature, flip_tta=flip_tta)
            lp = combined_log_proba(out_of_fold[c], sims, combination)
            top1 = float(np.mean(np.argmax(lp, axis=1) == train.fine))
            if best is None or top1 > best[0]:
                best = (top1, c, combination)
    assert best is not None
    _, c, combination = best
    threshold = float(np.quantile(nearest, 1 - keep, method="lower"))  # "lower": at least `keep` pass
    combination = replace(combination, min_similarity=threshold)
    score = accuracy(
        combined_log_proba(out_of_fold[c], sims, combination), train.fine, train.coarse, data.coarse_of_class
    )
    head_only = accuracy(out_of_fold[c], train.fine, train.coarse, data.coarse_of_class)
    return Tuned(c, combination, score, head_only, float(np.mean(nearest >= threshold)))


def save_artifacts(
    folder: Path, data: GroceryEmbeddings, head: LinearHead, tuned: Tuned, metrics: dict[str, float]
) -> Path:
    """Write the head (next version), the iconic-image index, the refusal's reference photos (float16) and the
    tuned combination into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = head.save(folder, HEAD_NAME, metrics)
    VectorIndex.build(data.product_ids, iconic_vectors(data)).save(
        folder / ICONIC_INDEX, model=head.info.backbone, fingerprint=head.info.trained_at
    )
    np.save(folder / REFERENCE_FILE, reference_vectors(data).astype(np.float16))
    (folder / COMBINATION_FILE).write_text(
        json.dumps({"c": tuned.c, **asdict(tuned.combination), "metrics": metrics}, indent=2) + "\n",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Artifacts:
    head: LinearHead
    iconic: VectorIndex
    reference: FloatArray
    """Normalised embeddings of the store's own photos (the refusal's nearest-photo test)."""
    combination: Combination


def load_artifacts(folder: Path, model: ImageModel) -> Artifacts:
    """The saved head, iconic-image index, reference photos and combination; checks they were made with `model`'s
    backbone."""
    fix = "run `python -m retrieval.vision build` (SHOP_STORE=grocery_store)"
    head = LinearHead.load(latest_path(folder, HEAD_NAME))
    if head.info.backbone != backbone_name(model):
        raise VisionUnavailable(
            f"the grocery head in {folder} was trained on {head.info.backbone}, not {backbone_name(model)}; {fix}"
        )
    index = VectorIndex.load(folder / ICONIC_INDEX, expected_dim=1280, expected_model=head.info.backbone)
    try:
        raw = json.loads((folder / COMBINATION_FILE).read_text(encoding="utf-8"))
        combination = Combination(
            head_weight=float(raw["head_weight"]),
            temperature=float(raw["temperature"]),
            min_probability=float(raw.get("min_probability", 0.0)),
            min_similarity=float(raw["min_similarity"]),
            flip_tta=bool(raw["flip_tta"]),
        )
        reference = np.load(folder / REFERENCE_FILE).astype(np.float32)
    except (OSError, ValueError, KeyError) as exc:
        raise VisionUnavailable(f"unreadable grocery matcher in {folder}: {exc}; {fix}") from exc
    if reference.ndim != 2 or reference.shape[1] != 1280:
        raise VisionUnavailable(f"{folder / REFERENCE_FILE} has shape {reference.shape}, not (n, 1280); {fix}")
    return Artifacts(head, index, reference, combination)
