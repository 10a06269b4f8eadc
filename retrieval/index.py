"""A FAISS vector index with the product ids as FAISS ids, saved atomically next to a JSON metadata file.

The index type follows the catalogue's size (`choose_index_kind`): exact search (`IndexFlatIP` on unit vectors =
cosine) up to `FLAT_MAX_VECTORS`, where one query scans everything in a few milliseconds on one thread (measured by
`bench/search_speed.py`); beyond it an inverted-file index (`IndexIVFFlat`, `nlist` ≈ 4·√n lists) whose `nprobe`
is calibrated at build time for recall@10 ≥ 0.98 against exact search and saved with the index. Both take product
ids as FAISS ids and support `add`, `remove` and `upsert` without a rebuild (IVF keeps its trained centroids; a full
build retrains them when the catalogue has changed a lot). HNSW was not chosen: FAISS' HNSW cannot remove vectors,
and building it for 1M vectors on 2 shared cores takes far longer than IVF (train + add: ~7 minutes measured).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
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


FLAT_MAX_VECTORS = 50_000
"""Exact search up to this many vectors (see the module doc and `bench/search_speed.py`)."""
TARGET_RECALL = 0.98
CALIBRATION_MARGIN = 0.01
"""Calibrated for TARGET_RECALL + this: synthetic calibration queries and real ones differ by about a point."""
QUERY_NOISE = 1.5
NPROBE_STEPS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


class IndexKind(StrEnum):
    FLAT = "flat"
    IVF = "ivf"


def choose_index_kind(n: int) -> IndexKind:
    return IndexKind.FLAT if n <= FLAT_MAX_VECTORS else IndexKind.IVF


def _check(ids: npt.ArrayLike, vectors: npt.ArrayLike) -> tuple[Ids, npt.NDArray[np.float32]]:
    ids64 = np.ascontiguousarray(ids, dtype=np.int64)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if x.ndim != 2 or ids64.shape != (x.shape[0],):
        raise ValueError(f"expected n ids and n × dim vectors; got ids {ids64.shape}, vectors {x.shape}")
    if np.unique(ids64).size != ids64.size:
        raise ValueError("ids must be distinct")
    return ids64, x


class VectorIndex:
    """Vectors keyed by int64 ids; `search` returns the k best by inner product, best first."""

    def __init__(self, index: faiss.Index, meta: IndexMeta | None = None) -> None:
        self._index = index
        self.meta = meta
        """Set when the index was loaded from a file."""
        self.nprobe = int(getattr(index, "nprobe", 1))
        """IVF lists searched per query: calibrated at build time (`calibrate_nprobe`), saved with the index."""

    @classmethod
    def build(
        cls, ids: npt.ArrayLike, vectors: npt.ArrayLike, kind: IndexKind | None = None, progress: bool = False
    ) -> VectorIndex:
        """An index of `vectors` (n × dim, unit rows) under `ids` (n distinct integers); kind by size unless given."""
        ids64, x = _check(ids, vectors)
        kind = kind or choose_index_kind(len(ids64))
        index: faiss.Index
        if kind is IndexKind.FLAT:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(x.shape[1]))
        else:
            nlist = max(1, min(int(4 * np.sqrt(len(x))), len(x) // 39))
            index = faiss.index_factory(x.shape[1], f"IVF{nlist},Flat", faiss.METRIC_INNER_PRODUCT)
            sample = x if len(x) <= nlist * 64 else x[np.random.default_rng(0).choice(len(x), nlist * 64, False)]
            index.train(sample)
        built = cls(index)
        built.add(ids64, x)
        if kind is IndexKind.IVF:
            built.calibrate_nprobe(x, ids64)
        return built

    def calibrate_nprobe(
        self,
        vectors: npt.NDArray[np.float32],
        ids: npt.NDArray[np.int64],
        target: float = TARGET_RECALL + CALIBRATION_MARGIN,
        sample: int = 300,
        k: int = 10,
    ) -> float:
        """Set `nprobe` (IVF) to the smallest step whose recall@k against exact search reaches `target`, on queries
        between stored vectors (the sum of two, plus noise of norm QUERY_NOISE, so the nearest vector's cosine is
        ~0.5 as for real shopper queries against product titles); returns the recall reached. On the 1M synthetic
        index the recall per nprobe of these queries matches that of the 189 real judged queries
        (`bench/search_speed.py` prints both)."""
        rng = np.random.default_rng(1)
        n = min(sample, len(vectors))
        q = vectors[rng.choice(len(vectors), n)] + vectors[rng.choice(len(vectors), n)]
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        q += rng.standard_normal(q.shape).astype(np.float32) * (QUERY_NOISE / np.sqrt(q.shape[1]))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        _, exact = faiss.knn(q, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
        exact_ids = ids[exact]
        ivf: Any = self._index
        recall, nprobe = 0.0, ivf.nlist
        for nprobe in [n for n in NPROBE_STEPS if n < ivf.nlist] + [ivf.nlist]:
            params = faiss.SearchParametersIVF()
            params.nprobe = nprobe
            _, found = self._index.search(q, k, params=params)
            recall = float(np.mean([len(set(f) & set(e)) / k for f, e in zip(found, exact_ids, strict=True)]))
            if recall >= target:
                break
        ivf.nprobe = self.nprobe = int(nprobe)
        return recall

    @property
    def kind(self) -> IndexKind:
        return IndexKind.IVF if isinstance(self._index, faiss.IndexIVF) else IndexKind.FLAT

    def ids(self) -> Ids:
        """Every id in the index."""
        if isinstance(self._index, faiss.IndexIDMap2):
            return faiss.vector_to_array(self._index.id_map).astype(np.int64)
        ivf: Any = self._index
        invlists = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
            for i in range(ivf.nlist)
            if invlists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add vectors under new ids (an id already present raises ValueError: use `upsert`)."""
        ids64, x = _check(ids, vectors)
        if x.shape[1] != self.dim:
            raise ValueError(f"vectors have dimension {x.shape[1]}; the index has {self.dim}")
        if np.isin(ids64, self.ids()).any():
            raise ValueError("some ids are in the index already; use upsert to replace them")
        self._index.add_with_ids(x, ids64)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove these ids (absent ones are ignored); returns how many were removed."""
        ids64 = np.ascontiguousarray(ids, dtype=np.int64)
        if ids64.size == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids64)))

    def upsert(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add or replace the vectors of these ids."""
        ids64, x = _check(ids, vectors)
        self.remove(ids64)
        self.add(ids64, x)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(
        self, query_vectors: npt.ArrayLike, k: int, allowed: npt.NDArray[np.int64] | None = None
    ) -> tuple[Scores, Ids]:
        """Scores and ids, each (n_queries × min(k, len(self))), best first; only `allowed` ids when given.

        With `allowed`, FAISS skips other ids during the search itself (an `IDSelectorBatch`), so a filter never
        empties a page that has matches; rows may then hold fewer than k hits (no -1 padding is returned)."""
        if k < 1:
            raise ValueError(f"k has value {k}; expected a positive integer")
        q = np.ascontiguousarray(np.atleast_2d(query_vectors), dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"query vectors have shape {q.shape}; expected (n, {self.dim})")
        k = min(k, len(self))
        if k == 0:
            return np.empty((q.shape[0], 0), dtype=np.float32), np.empty((q.shape[0], 0), dtype=np.int64)
        params: Any = None
        selector: Any = None  # kept referenced until the search returns
        if self.kind is IndexKind.IVF:
            params = faiss.SearchParametersIVF()
            params.nprobe = self.nprobe
        if allowed is not None:
            allowed64 = np.ascontiguousarray(allowed, dtype=np.int64)
            if allowed64.size == 0:
                return np.empty((q.shape[0], 0), dtype=np.float32), np.empty((q.shape[0], 0), dtype=np.int64)
            selector = faiss.IDSelectorBatch(allowed64)
            params = params if params is not None else faiss.SearchParameters()
            params.sel = selector
            k = min(k, int(allowed64.size))
        try:
            scores, ids = self._index.search(q, k, params=params)
        except RuntimeError as exc:
            raise RetrievalUnavailable(f"index search failed: {exc}") from exc
        if (ids < 0).any():  # fewer matches than k (IVF, or a selector): keep the found ones only
            found = int((ids[0] >= 0).sum()) if q.shape[0] == 1 else int((ids >= 0).all(axis=0).sum())
            scores, ids = scores[:, :found], ids[:, :found]
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
        if not isinstance(index, faiss.IndexIDMap2 | faiss.IndexIVFFlat):
            problems.append(f"it holds a {type(index).__name__}, not an IndexIDMap2 or IndexIVFFlat")
        if problems:
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
