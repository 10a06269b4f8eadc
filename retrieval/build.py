"""Building the product index: embed every product's text and save the vectors under the product ids.

The index is a cache of (catalog, model, this code): `index_fingerprint` digests all three, and `ensure_product_index`
rebuilds only when the digest changed (or when forced).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog.types import Product
from retrieval.encoder import TextEncoder
from retrieval.index import VectorIndex, read_meta
from retrieval.search import product_text

INDEX_VERSION = "1"
"""Bump when what goes into the index changes in a way the fingerprint cannot see (index type, pooling, ...)."""


@dataclass(frozen=True)
class BuildReport:
    count: int
    seconds: float
    path: Path
    built: bool = True
    """False when the existing index was up to date and nothing was built."""


def model_signature(model_dir: Path) -> str:
    """Digest of a model folder's config files and file sizes (hashing 90 MB of weights each build is not needed)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(model_dir).as_posix()}\0{file.stat().st_size}\0".encode())
        if file.suffix == ".json":
            digest.update(file.read_bytes())
    return digest.hexdigest()


def index_fingerprint(products: Iterable[Product], model_sig: str) -> str:
    """Digest of everything the index depends on: INDEX_VERSION, the model, each product's id and embedded text."""
    digest = hashlib.sha256(f"index v{INDEX_VERSION}\0{model_sig}\0".encode())
    for product in products:
        digest.update(f"{product.id}\t{product_text(product)}\n".encode())
    return digest.hexdigest()


def build_product_index(
    products: Iterable[Product],
    encoder: TextEncoder,
    path: Path,
    fingerprint: str,
    batch_size: int = 64,
    progress: bool = True,
) -> BuildReport:
    """Embed `products`, save the index at `path` (atomically) and report how long it took."""
    started = time.perf_counter()
    items = list(products)
    ids = np.array([p.id for p in items], dtype=np.int64)
    vectors = encoder.encode([product_text(p) for p in items], batch_size=batch_size, progress=progress)
    VectorIndex.build(ids, vectors).save(path, model=encoder.name, fingerprint=fingerprint)
    return BuildReport(count=len(items), seconds=time.perf_counter() - started, path=path)


def ensure_product_index(
    products: Sequence[Product],
    encoder: TextEncoder,
    path: Path,
    model_sig: str,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build the index unless the one at `path` already has this catalog's and model's fingerprint."""
    started = time.perf_counter()
    fingerprint = index_fingerprint(products, model_sig)
    meta = read_meta(path)
    if not force and meta is not None and meta.fingerprint == fingerprint and meta.model == encoder.name:
        return BuildReport(count=meta.count, seconds=time.perf_counter() - started, path=path, built=False)
    return build_product_index(products, encoder, path, fingerprint, progress=progress)
