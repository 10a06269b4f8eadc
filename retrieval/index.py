"""A FAISS vector index with the product ids as FAISS ids, saved atomically next to a JSON metadata file.

Exact search (`IndexFlatIP` on unit vectors = cosine): a few thousand products take ~7 MB and well under a
millisecond per query, so an approximate index would only add recall loss.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import faiss
import numpy as np
import numpy.typing as npt

from retrieval.errors import IndexNotBuilt, RetrievalUnavailable

Ids = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]


@dataclass(frozen=True)
class IndexMeta:
    """What an index file holds and how it was made (the `<index>.meta.json` sidecar)."""

    model: str
    dim: int
    count: int
    built_at: str
    fingerprint: str
    """The builder's digest of its inputs: an equal fingerprint means the index is up to date."""


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def read_meta(path: Path) -> IndexMeta | None:
    """The metadata of the index at `path`, or None when there is no complete index there."""
    if not (path.is_file() and meta_path(path).is_file()):
        return None
    try:
        return IndexMeta(**json.loads(meta_path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise RetrievalUnavailable(f"unreadable index metadata {meta_path(path)}: {exc}; run `make build`") from exc


class VectorIndex:
    """Vectors keyed by int64 ids; `search` returns the k best by inner product, best first."""

    def __init__(self, index: faiss.IndexIDMap2, meta: IndexMeta | None = None) -> None:
        self._index = index
        self.meta = meta
        """Set when the index was loaded from a file."""

    @classmethod
    def build(cls, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> VectorIndex:
        """An index of `vectors` (n × dim, unit rows) under `ids` (n distinct integers)."""
        ids64 = np.ascontiguousarray(ids, dtype=np.int64)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        if x.ndim != 2 or ids64.shape != (x.shape[0],):
            raise ValueError(f"expected n ids and n × dim vectors; got ids {ids64.shape}, vectors {x.shape}")
        if np.unique(ids64).size != ids64.size:
            raise ValueError("ids must be distinct")
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(x.shape[1]))
        index.add_with_ids(x, ids64)
        return cls(index)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query_vectors: npt.ArrayLike, k: int) -> tuple[Scores, Ids]:
        """Scores and ids, each (n_queries × min(k, len(self))): never FAISS' -1 padding."""
        if k < 1:
            raise ValueError(f"k has value {k}; expected a positive integer")
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors have shape {q.shape}; expected (n, {self.dim})")
        k = min(k, len(self))
        if k == 0:
            return np.empty((q.shape[0], 0), dtype=np.float32), np.empty((q.shape[0], 0), dtype=np.int64)
        try:
            scores, ids = self._index.search(q, k)
        except RuntimeError as exc:
            raise RetrievalUnavailable(f"index search failed: {exc}") from exc
        return scores, ids

    def save(self, path: Path, *, model: str, fingerprint: str) -> IndexMeta:
        """Write `path` and its metadata, each via a temporary file and `os.replace`, index first.

        Readers never see a half-written file; a crash between the two renames leaves a count mismatch that
        `load` reports and a stale fingerprint that makes the next build run again.
        """
        meta = IndexMeta(
            model=model,
            dim=self.dim,
            count=len(self),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            fingerprint=fingerprint,
        )
        data = faiss.serialize_index(self._index)
        _write_atomic(path, lambda f: f.write(data.tobytes()))
        _write_atomic(meta_path(path), lambda f: f.write(json.dumps(asdict(meta), indent=2).encode() + b"\n"))
        self.meta = meta
        return meta

    @classmethod
    def load(cls, path: Path, *, expected_dim: int | None = None, expected_model: str | None = None) -> VectorIndex:
        """Read an index saved by `save`. Raises IndexNotBuilt when absent, RetrievalUnavailable when unusable."""
        meta = read_meta(path)
        if meta is None:
            raise IndexNotBuilt(path)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise RetrievalUnavailable(f"cannot read the product index {path}: {exc}; run `make build`") from exc
        problems = [
            f"{what} is {got!r} but {source} says {want!r}"
            for what, got, want, source in (
                ("dimension", index.d, meta.dim, "its metadata"),
                ("vector count", index.ntotal, meta.count, "its metadata"),
                ("dimension", index.d, expected_dim, "the encoder"),
                ("model", meta.model, expected_model, "the encoder"),
            )
            if want is not None and got != want
        ]
        if not isinstance(index, faiss.IndexIDMap2):
            problems.append(f"it holds a {type(index).__name__}, not an IndexIDMap2")
        if problems or not isinstance(index, faiss.IndexIDMap2):
            raise RetrievalUnavailable(f"product index {path} does not match: {'; '.join(problems)}; run `make build`")
        return cls(index, meta)


def _write_atomic(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; other services (other users) read the index
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
