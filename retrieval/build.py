"""Building the product indexes: FAISS vectors of every product's text, and BM25 over titles and attributes.

The vector index is a cache of (catalog, model, this code): `index_fingerprint` digests all three, and
`ensure_product_index` does nothing when the digest is unchanged. When only some products changed (same model,
same index version), it updates the saved index in place of a rebuild: products that are new or whose text changed
are encoded and upserted, products gone from the catalogue are removed (`<index>.items.json` keeps a digest of
each indexed text). BM25 is rebuilt whole (a fraction of a second for the reference store) and saved to a new
folder; a pointer file switched by one atomic rename names the current one (`bm25_dir`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog.types import Product
from retrieval.encoder import TextEncoder
from retrieval.errors import IndexNotBuilt, RetrievalUnavailable
from retrieval.index import VectorIndex, _write_atomic, read_meta
from retrieval.lexical import Bm25Index, lexical_text
from retrieval.search import product_text

INDEX_VERSION = "2"
"""Bump when what goes into the index changes in a way the fingerprint cannot see (index type, pooling, ...)."""


@dataclass(frozen=True)
class BuildReport:
    count: int
    seconds: float
    path: Path
    built: bool = True
    """False when the existing index was up to date and nothing was built."""
    encoded: int = 0
    """Products whose text was embedded (all of them for a full build, only the changed ones for an update)."""
    removed: int = 0
    incremental: bool = False


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
        digest.update(f"{product.id}\t{product_text(product)}\t{lexical_text(product)}\n".encode())
    return digest.hexdigest()


def items_path(path: Path) -> Path:
    return path.with_name(path.name + ".items.json")


def bm25_pointer(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".faiss") + ".bm25.json")


def _text_digest(product: Product) -> str:
    return hashlib.sha1(product_text(product).encode(), usedforsecurity=False).hexdigest()[:16]


def _save_items(path: Path, products: Sequence[Product], base: str) -> None:
    items = {"base": base, "digests": {str(p.id): _text_digest(p) for p in products}}
    _write_atomic(items_path(path), lambda f: f.write(json.dumps(items).encode()))


def save_bm25(path: Path, bm25: Bm25Index, fingerprint: str) -> Path:
    """Save BM25 to a new folder beside the vector index, point the pointer file at it, remove older folders."""
    folder = path.with_name(f"{path.name.removesuffix('.faiss')}.bm25-{fingerprint[:12]}")
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    bm25.save(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    pointer = {"folder": folder.name, "fingerprint": fingerprint}
    _write_atomic(bm25_pointer(path), lambda f: f.write(json.dumps(pointer).encode()))
    for old in path.parent.glob(f"{path.name.removesuffix('.faiss')}.bm25-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def bm25_dir(path: Path) -> Path:
    """The folder of the current BM25 index of the vector index at `path` (IndexNotBuilt when there is none)."""
    try:
        pointer = json.loads(bm25_pointer(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotBuilt(bm25_pointer(path)) from None
    except (OSError, ValueError) as exc:
        raise RetrievalUnavailable(f"unreadable {bm25_pointer(path)}: {exc}; run `make build`") from exc
    return path.with_name(str(pointer["folder"]))


def build_product_index(
    products: Iterable[Product],
    encoder: TextEncoder,
    path: Path,
    fingerprint: str,
    batch_size: int = 64,
    progress: bool = True,
) -> BuildReport:
    """Embed `products`, save the vector index and BM25 at `path` (atomically) and report how long it took."""
    started = time.perf_counter()
    items = list(products)
    ids = np.array([p.id for p in items], dtype=np.int64)
    vectors = encoder.encode([product_text(p) for p in items], batch_size=batch_size, progress=progress)
    VectorIndex.build(ids, vectors).save(path, model=encoder.name, fingerprint=fingerprint)
    _save_items(path, items, fingerprint)
    save_bm25(path, Bm25Index.build(items), fingerprint)
    return BuildReport(count=len(items), seconds=time.perf_counter() - started, path=path, encoded=len(items))


def update_product_index(
    products: Sequence[Product], encoder: TextEncoder, path: Path, fingerprint: str, progress: bool = True
) -> BuildReport | None:
    """Bring the saved index up to date by encoding only new or changed products; None when a full build is needed."""
    started = time.perf_counter()
    try:
        stored = json.loads(items_path(path).read_text(encoding="utf-8"))
        index = VectorIndex.load(path, expected_dim=encoder.dim, expected_model=encoder.name)
    except (OSError, ValueError, IndexNotBuilt, RetrievalUnavailable):
        return None
    digests: dict[str, str] = stored.get("digests", {})
    current = {str(p.id): p for p in products}
    changed = [p for key, p in current.items() if digests.get(key) != _text_digest(p)]
    gone = [int(key) for key in digests if key not in current]
    if len(changed) + len(gone) > len(products) // 2:
        return None  # most of the catalogue changed: a full build is as cheap and keeps IVF centroids fresh
    if changed:
        vectors = encoder.encode([product_text(p) for p in changed], progress=progress)
        index.upsert(np.array([p.id for p in changed], dtype=np.int64), vectors)
    index.remove(np.array(gone, dtype=np.int64))
    index.save(path, model=encoder.name, fingerprint=fingerprint)
    _save_items(path, products, stored.get("base", fingerprint))
    save_bm25(path, Bm25Index.build(products), fingerprint)
    return BuildReport(
        count=len(index),
        seconds=time.perf_counter() - started,
        path=path,
        encoded=len(changed),
        removed=len(gone),
        incremental=True,
    )


def ensure_product_index(
    products: Sequence[Product],
    encoder: TextEncoder,
    path: Path,
    model_sig: str,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build or update the indexes unless the ones at `path` already have this catalog's and model's fingerprint."""
    started = time.perf_counter()
    fingerprint = index_fingerprint(products, model_sig)
    meta = read_meta(path)
    up_to_date = meta is not None and meta.fingerprint == fingerprint and meta.model == encoder.name
    if not force and up_to_date and bm25_pointer(path).is_file() and meta is not None:
        return BuildReport(count=meta.count, seconds=time.perf_counter() - started, path=path, built=False)
    if not force and meta is not None and meta.model == encoder.name:
        stored_sig = _stored_model_sig(path)
        if stored_sig == model_sig:
            report = update_product_index(products, encoder, path, fingerprint, progress=progress)
            if report is not None:
                _remember_model_sig(path, model_sig)
                return report
    report = build_product_index(products, encoder, path, fingerprint, progress=progress)
    _remember_model_sig(path, model_sig)
    return report


def _sig_path(path: Path) -> Path:
    return path.with_name(path.name + ".model.json")


def _stored_model_sig(path: Path) -> str | None:
    try:
        data = json.loads(_sig_path(path).read_text(encoding="utf-8"))
        return str(data["model_sig"]) if data.get("index_version") == INDEX_VERSION else None
    except (OSError, ValueError, KeyError):
        return None


def _remember_model_sig(path: Path, model_sig: str) -> None:
    data = {"model_sig": model_sig, "index_version": INDEX_VERSION}
    _write_atomic(_sig_path(path), lambda f: f.write(json.dumps(data).encode()))
