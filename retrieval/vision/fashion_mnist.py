"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT) from Debian's `dataset-fashion-mnist` package, written out as the
folder layout the training command reads (`train/<class>/*.png`, `test/<class>/*.png`), and the published benchmark
table (the dataset's README) to print results beside.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from tqdm import tqdm

from retrieval.vision.errors import InvalidTrainingData

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
PUBLISHED = (
    # (classifier, preprocessing, Fashion-MNIST test accuracy), from the dataset's README benchmark table
    ("MLP 256-128-100", "none", 0.883),
    ("2 Conv+pooling (TensorFlow docs)", "none", 0.916),
    ("2 Conv <100K parameters", "none", 0.925),
    ("3 Conv+pooling+2 FC+dropout", "none", 0.926),
    ("2 Conv+pooling+BN", "none", 0.934),
    ("2 Conv+3 FC ~500K parameters", "augmentation, batch norm", 0.934),
    ("Capsule Network 8M parameters", "shift, flip", 0.936),
    ("GoogleNet", "none", 0.937),
    ("MobileNet", "flips", 0.950),
    ("ResNet18", "flips, translation, rotation", 0.949),
    ("WRN40-4 8.9M parameters", "crops, flips", 0.967),
    ("Human performance", "crowd-sourced", 0.835),
)


def read_idx(data_dir: Path, split: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """Images (n × 28 × 28 uint8) and labels of 'train' or 'test' from the idx `.gz` files."""
    images_file, labels_file = (data_dir / name for name in FILES[split])
    if not images_file.is_file() or not labels_file.is_file():
        raise InvalidTrainingData(
            f"Fashion-MNIST not found in {data_dir}; install it with `apt-get install -y dataset-fashion-mnist`"
        )
    with gzip.open(labels_file, "rb") as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8).astype(np.int64)
    with gzip.open(images_file, "rb") as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    if len(images) != len(labels):
        raise InvalidTrainingData(f"{images_file} has {len(images)} images but {labels_file} {len(labels)} labels")
    return images, labels


def export_folders(data_dir: Path, out: Path, progress: bool = True) -> Path:
    """Write every image as `out/<split>/<class>/<n>.png` (skipped when already complete); returns `out`."""
    for split in FILES:
        images, labels = read_idx(data_dir, split)
        done = out / split / ".complete"
        if done.is_file():
            continue
        for name in CLASSES:
            (out / split / name).mkdir(parents=True, exist_ok=True)
        for n, (image, label) in enumerate(
            tqdm(zip(images, labels, strict=True), total=len(images), desc=f"writing {split}", disable=not progress)
        ):
            Image.fromarray(image).save(out / split / CLASSES[label] / f"{n:05d}.png", optimize=False)
        done.write_text(f"{len(images)}\n", encoding="utf-8")
    return out
