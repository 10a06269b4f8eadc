"""Backbone embeddings (and ImageNet logits) of many image files, computed once and cached on disk.

The cache key is a digest of the backbone, the crop (plain or mirrored), and every file's path, size and
modification time, so a changed photo set is embedded again. Files live under `$SHOPASSIST_CACHE/vision/`, never in
the repository.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from tqdm import tqdm

from retrieval.vision.backbone import ImageFeatures, ImageModel
from retrieval.vision.errors import InvalidImage

CACHE_FORMAT = "1"


@dataclass(frozen=True)
class EmbeddedFiles:
    embeddings: npt.NDArray[np.float32]
    """n × 1280, one row per file, in the given order."""
    logits: npt.NDArray[np.float32]
    """n × 1000 ImageNet logits."""


def backbone_name(model: ImageModel) -> str:
    return f"efficientnet-{model.variant.value}@{model.size}px/{model.runtime.value}"


def cache_key(model: ImageModel, files: Sequence[Path], flip: bool) -> str:
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{backbone_name(model)}:{flip}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"\n{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def open_rgb(path: Path) -> Image.Image:
    """A training or catalogue image as RGB (these are trusted files; uploads go through `retrieval.vision.uploads`)."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (640, 640))  # JPEG: decode at a reduced scale when the photo is much larger
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise InvalidImage(f"cannot read image {path}: {exc}") from exc


def embed_files(
    model: ImageModel,
    files: Sequence[Path],
    cache_dir: Path | None,
    flip: bool = False,
    progress: bool = True,
    desc: str = "embedding photos",
) -> EmbeddedFiles:
    """Embeddings and logits of `files` (mirrored when `flip`), from the cache when the same files were seen."""
    cached = cache_dir / f"{cache_key(model, files, flip)}.npz" if cache_dir is not None else None
    return embed_cached(files, cached, lambda path: model.features(open_rgb(path), flip=flip), progress, desc)


def embed_cached(
    files: Sequence[Path],
    cached: Path | None,
    features_of: Callable[[Path], ImageFeatures],
    progress: bool = True,
    desc: str = "embedding photos",
) -> EmbeddedFiles:
    """`features_of` every file (with a progress bar), read from / written atomically to the `.npz` file `cached`."""
    if cached is not None and cached.is_file():
        with np.load(cached) as arrays:
            return EmbeddedFiles(arrays["embeddings"], arrays["logits"])
    embeddings = np.zeros((len(files), 1280), np.float32)
    logits = np.zeros((len(files), 1000), np.float32)
    for n, path in enumerate(tqdm(files, desc=desc, unit="photo", disable=not progress)):
        features = features_of(path)
        embeddings[n], logits[n] = features.embedding, features.logits
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".npz")
        os.close(handle)
        with open(tmp, "wb") as out:
            np.savez(out, embeddings=embeddings, logits=logits)
        os.replace(tmp, cached)
    return EmbeddedFiles(embeddings, logits)
