"""Training a store's own classifier from a folder of labelled photos: `python -m retrieval.vision train DIR`.

Layout: one sub-folder per category (`DIR/<category>/*.jpg|png|webp`), or split already: `DIR/train/<category>/...`
plus `DIR/test/<category>/...` (or `val/`). Without a given split, 20% of each category is held out (seeded).

Two kinds of model, chosen by the photos (`--model auto`) or by hand:
- `head`: logistic regression on the pretrained EfficientNet-Lite embedding (training photos plus their mirror
  images); the right choice for real product photos: seconds to train once the embeddings are cached.
- `small-cnn`: a small CNN from scratch for tiny grey images (≤ 64 px, e.g. Fashion-MNIST's 28 × 28), where the
  ImageNet backbone is both slow (every thumbnail upscaled to 260 px) and weaker.

Either way: progress bars, accuracy on the held-out photos, and a versioned artifact `<name>-v<N>` (`.npz` weights
for a head, `.pt` for a CNN, always with a `.json` of classes, metrics and provenance) that never overwrites an
older version.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from tqdm import tqdm

from retrieval.vision.backbone import ImageModel
from retrieval.vision.embeddings import backbone_name, embed_files
from retrieval.vision.errors import InvalidTrainingData
from retrieval.vision.head import LinearHead, latest_version

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
SMALL_IMAGE_PX = 64
HOLDOUT_SHARE = 0.2


class ModelKind(StrEnum):
    AUTO = "auto"
    HEAD = "head"
    SMALL_CNN = "small-cnn"


@dataclass(frozen=True)
class TrainingSet:
    classes: list[str]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]
    test_name: str
    """Where the evaluation photos come from: 'test', 'val' or 'held out (20%)'."""


@dataclass(frozen=True)
class TrainReport:
    kind: ModelKind
    classes: list[str]
    train_photos: int
    test_photos: int
    test_name: str
    accuracy: float
    artifact: Path
    seconds: float


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _categories(folder: Path) -> dict[str, list[Path]]:
    found = {d.name: _images(d) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {name: files for name, files in found.items() if files}


def read_training_folder(root: Path, seed: int = 0) -> TrainingSet:
    """The labelled photos under `root` (see the module doc). Raises `InvalidTrainingData` saying what is wrong."""
    if not root.is_dir():
        raise InvalidTrainingData(f"{root} is not a folder; expected one sub-folder of photos per category")
    test_dir = next((root / name for name in ("test", "val") if (root / name).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        train, test = _categories(root / "train"), _categories(test_dir)
        classes = sorted(train)
        unknown = sorted(set(test) - set(train))
        if unknown:
            raise InvalidTrainingData(f"{test_dir} has categories without training photos: {', '.join(unknown)}")
        pairs = [(p, classes.index(c)) for c in classes for p in train[c]]
        held = [(p, classes.index(c)) for c in sorted(test) for p in test[c]]
        split_name = test_dir.name
    else:
        per_class = _categories(root)
        classes = sorted(per_class)
        rng = random.Random(seed)
        pairs, held = [], []
        for index, name in enumerate(classes):
            files = list(per_class[name])
            rng.shuffle(files)
            n_test = max(1, round(len(files) * HOLDOUT_SHARE)) if len(files) > 1 else 0
            held += [(p, index) for p in files[:n_test]]
            pairs += [(p, index) for p in files[n_test:]]
        split_name = f"held out ({HOLDOUT_SHARE:.0%})"
    if len(classes) < 2:
        raise InvalidTrainingData(
            f"{root} has {len(classes)} category folder(s) with images; expected at least 2 "
            "(one sub-folder of .jpg/.png/.webp photos per category)"
        )
    if not held:
        raise InvalidTrainingData(f"{root}: no photos left to evaluate on; add more photos per category")
    return TrainingSet(classes, pairs, held, split_name)


def choose_kind(data: TrainingSet) -> ModelKind:
    with Image.open(data.train[0][0]) as first:
        small = max(first.size) <= SMALL_IMAGE_PX
    return ModelKind.SMALL_CNN if small else ModelKind.HEAD


def _grey_28(files: list[tuple[Path, int]], desc: str, progress: bool) -> npt.NDArray[np.uint8]:
    out = np.zeros((len(files), 28, 28), np.uint8)
    for n, (path, _) in enumerate(tqdm(files, desc=desc, unit="image", disable=not progress)):
        with Image.open(path) as image:
            grey = image.convert("L")
            out[n] = np.asarray(grey if grey.size == (28, 28) else grey.resize((28, 28), Image.Resampling.BILINEAR))
    return out


def _save_meta(out_dir: Path, name: str, version: int, meta: dict[str, object]) -> None:
    path = out_dir / f"{name}-v{version}.json"
    path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def train_folder(
    root: Path,
    out_dir: Path,
    kind: ModelKind = ModelKind.AUTO,
    model_factory: Callable[[], ImageModel] | None = None,
    cache_dir: Path | None = None,
    epochs: int = 12,
    name: str | None = None,
    progress: bool = True,
    log: Callable[[str], object] = print,
) -> TrainReport:
    """Train, evaluate on the held-out photos and save the next version of the artifact in `out_dir`."""
    started = time.perf_counter()
    data = read_training_folder(root)
    chosen = choose_kind(data) if kind is ModelKind.AUTO else kind
    name = name or root.resolve().name
    log(
        f"{len(data.classes)} categories, {len(data.train)} training photos, {len(data.test)} {data.test_name} "
        f"photos; model: {chosen.value}"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    y_test = np.asarray([label for _, label in data.test], dtype=np.int64)
    if chosen is ModelKind.HEAD:
        if model_factory is None:
            raise ValueError("a head needs the image model (model_factory)")
        model = model_factory()
        files = [p for p, _ in data.train]
        plain = embed_files(model, files, cache_dir, progress=progress, desc="embedding training photos")
        mirrored = embed_files(model, files, cache_dir, flip=True, progress=progress, desc="mirrored training photos")
        y = np.asarray([label for _, label in data.train], dtype=np.int64)
        head = LinearHead.fit(
            np.concatenate([plain.embeddings, mirrored.embeddings]),
            np.concatenate([y, y]),
            data.classes,
            backbone_name(model),
        )
        test = embed_files(model, [p for p, _ in data.test], cache_dir, progress=progress, desc="embedding test photos")
        accuracy = float(np.mean(head.predict(test.embeddings) == y_test))
        artifact = head.save(out_dir, name, {"accuracy": accuracy, "test_photos": float(len(y_test))})
    else:
        import torch

        from retrieval.vision.small_cnn import predict, to_tensor, train_small_cnn

        x_train = _grey_28(data.train, "reading training images", progress)
        x_test = _grey_28(data.test, "reading test images", progress)
        y_train = np.asarray([label for _, label in data.train], dtype=np.int64)
        net = train_small_cnn(
            x_train,
            y_train,
            len(data.classes),
            epochs=epochs,
            holdout=(x_test, y_test),
            on_epoch=lambda r: log(
                f"  epoch {r.epoch}/{epochs}: loss {r.loss:.4f}, {data.test_name} accuracy {r.holdout_accuracy:.2%}"
            ),
            progress=progress,
        )
        accuracy = float(np.mean(predict(net, to_tensor(x_test)) == y_test))
        version = latest_version(out_dir, name) + 1
        artifact = out_dir / f"{name}-v{version}.pt"
        torch.save(net.state_dict(), artifact)
        _save_meta(
            out_dir,
            name,
            version,
            {
                "kind": chosen.value,
                "classes": data.classes,
                "version": version,
                "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "metrics": {"accuracy": accuracy, "test_photos": len(y_test)},
                "params": {"epochs": epochs, "input": "28x28 grey, (x-127.5)/127.5"},
            },
        )
    seconds = time.perf_counter() - started
    return TrainReport(
        chosen, data.classes, len(data.train), len(data.test), data.test_name, accuracy, artifact, seconds
    )
