"""Train-time augmentation for the trained head: random resized crops, mild colour jitter and mirroring of each
training photo, embedded once by the backbone and cached like the plain embeddings.

Why: the head only ever sees backbone embeddings, so the usual image augmentation has to happen before the backbone.
Each augmented copy is one more pass over the training photos (seconds per hundred photos on one core), so copies
are cached one per file under `$SHOPASSIST_CACHE/vision/embeddings/` and more copies can be added later without
recomputing the first ones. Hue is never changed: colour tells a red apple from a green one.

Copy `c` of photo `i` is the same every run (its random numbers come from a seed made of `c` and the file name), so
a cached copy and a recomputed one agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance

from retrieval.vision.backbone import ImageFeatures, ImageModel
from retrieval.vision.embeddings import EmbeddedFiles, cache_key, embed_cached, open_rgb

AUGMENT_FORMAT = "1"


@dataclass(frozen=True)
class Augmentation:
    """RandomResizedCrop-style crop (share of the area and aspect ratio), then brightness/contrast/saturation."""

    min_area: float = 0.35
    max_area: float = 1.0
    min_ratio: float = 3 / 4
    max_ratio: float = 4 / 3
    jitter: float = 0.25
    """Brightness, contrast and saturation factors are drawn from [1 - jitter, 1 + jitter]."""
    flip: float = 0.5
    """Chance of mirroring."""

    def describe(self) -> str:
        return (
            f"crop{self.min_area:g}-{self.max_area:g}/ratio{self.min_ratio:.3f}-{self.max_ratio:.3f}/"
            f"jitter{self.jitter:g}/flip{self.flip:g}"
        )


DEFAULT_AUGMENTATION = Augmentation()


def seed_of(path: Path, copy: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{copy}:{path.name}".encode()).digest()[:8], "little")


def augment(
    image: Image.Image, size: int, rng: np.random.Generator, spec: Augmentation = DEFAULT_AUGMENTATION
) -> npt.NDArray[np.float32]:
    """One random view of `image` as a (1, 3, size, size) backbone input, scaled like `backbone.to_input`."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    area = width * height
    box = (0, 0, width, height)
    for _ in range(10):
        target = area * rng.uniform(spec.min_area, spec.max_area)
        ratio = float(np.exp(rng.uniform(np.log(spec.min_ratio), np.log(spec.max_ratio))))
        w = round(float(np.sqrt(target * ratio)))
        h = round(float(np.sqrt(target / ratio)))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            box = (left, top, left + w, top + h)
            break
    view = rgb.resize((size, size), Image.Resampling.BILINEAR, box=box)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        view = enhancer(view).enhance(float(rng.uniform(1 - spec.jitter, 1 + spec.jitter)))
    if rng.random() < spec.flip:
        view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(view, dtype=np.float32)
    return np.ascontiguousarray(((pixels - 127.0) / 128.0).transpose(2, 0, 1)[None])


def embed_augmented(
    model: ImageModel,
    files: Sequence[Path],
    cache_dir: Path | None,
    copy: int,
    spec: Augmentation = DEFAULT_AUGMENTATION,
    progress: bool = True,
    desc: str = "augmented photos",
) -> EmbeddedFiles:
    """Embeddings and logits of augmented copy number `copy` of every file (cached per copy)."""
    key = hashlib.sha256(
        f"{AUGMENT_FORMAT}:{spec.describe()}:{copy}:{cache_key(model, files, False)}".encode()
    ).hexdigest()[:24]
    cached = cache_dir / f"aug-{key}.npz" if cache_dir is not None else None

    def features_of(path: Path) -> ImageFeatures:
        view = augment(open_rgb(path), model.size, np.random.default_rng(seed_of(path, copy)), spec)
        return model.features_of_input(view)

    return embed_cached(files, cached, features_of, progress, f"{desc} (copy {copy + 1})")
