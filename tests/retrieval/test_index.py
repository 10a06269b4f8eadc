"""VectorIndex against numpy brute force (the exact reference), and its file format's failure modes."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from retrieval.errors import IndexNotBuilt, RetrievalUnavailable
from retrieval.index import VectorIndex, meta_path, read_meta


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> npt.NDArray[np.float32]:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


@pytest.fixture
def small() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(7)
    return np.array([42, 7, 1_000_003, 99, 5], dtype=np.int64), unit_rows(rng, 5, 16)


def test_search_equals_numpy_brute_force() -> None:
    rng = np.random.default_rng(20240601)
    vectors, queries = unit_rows(rng, 2000, 384), unit_rows(rng, 50, 384)
    ids = rng.choice(10**9, size=2000, replace=False).astype(np.int64)  # non-contiguous, unordered

    scores, found = VectorIndex.build(ids, vectors).search(queries, k=10)

    exact = queries @ vectors.T
    top = np.argsort(-exact, axis=1)[:, :10]
    np.testing.assert_array_equal(found, ids[top])
    np.testing.assert_allclose(scores, np.take_along_axis(exact, top, axis=1), atol=1e-5)


def test_k_larger_than_index_returns_every_id_without_padding(small: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = small
    scores, found = VectorIndex.build(ids, vectors).search(vectors[:3], k=10)
    assert found.shape == scores.shape == (3, 5)
    assert all(set(row) == set(ids.tolist()) for row in found.tolist())
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "scores must be best first"
    np.testing.assert_array_equal(found[:, 0], ids[:3])  # each vector finds itself first


def test_single_vector_query_and_empty_index(small: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = small
    scores, found = VectorIndex.build(ids, vectors).search(vectors[1], k=2)
    assert found.shape == (1, 2) and found[0, 0] == 7
    scores, found = VectorIndex.build(np.empty(0, np.int64), np.empty((0, 16), np.float32)).search(vectors[0], k=3)
    assert found.shape == scores.shape == (1, 0)


@pytest.mark.parametrize(
    ("ids", "shape", "message"),
    [([1, 1, 2], (3, 4), "distinct"), ([1, 2], (3, 4), "expected n ids"), ([1, 2, 3], (3,), "expected n ids")],
)
def test_build_rejects_bad_input(ids: list[int], shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VectorIndex.build(np.array(ids), np.ones(shape, np.float32))


def test_search_rejects_bad_k_and_dimension(small: tuple[np.ndarray, np.ndarray]) -> None:
    index = VectorIndex.build(*small)
    with pytest.raises(ValueError, match="k has value 0"):
        index.search(small[1][:1], k=0)
    with pytest.raises(ValueError, match=r"expected \(n, 16\)"):
        index.search(np.ones((1, 8), np.float32), k=1)


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ids, vectors, queries = rng.choice(10**6, 300, replace=False), unit_rows(rng, 300, 32), unit_rows(rng, 20, 32)
    index = VectorIndex.build(ids, vectors)
    path = tmp_path / "index" / "products.faiss"  # the folder does not exist yet

    saved = index.save(path, model="test-model", fingerprint="abc123")
    loaded = VectorIndex.load(path, expected_dim=32, expected_model="test-model")

    for got, want in zip(loaded.search(queries, 7), index.search(queries, 7), strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded.meta == saved == read_meta(path)
    assert (saved.model, saved.dim, saved.count, saved.fingerprint) == ("test-model", 32, 300, "abc123")
    assert datetime.fromisoformat(saved.built_at).tzinfo is not None
    assert json.loads(meta_path(path).read_text())["fingerprint"] == "abc123"


def test_save_overwrites_atomically_and_leaves_no_temp_files(tmp_path: Path, small: tuple[np.ndarray, ...]) -> None:
    path = tmp_path / "products.faiss"
    VectorIndex.build(*small).save(path, model="m", fingerprint="one")
    VectorIndex.build(small[0][:2], small[1][:2]).save(path, model="m", fingerprint="two")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["products.faiss", "products.faiss.meta.json"]
    assert len(VectorIndex.load(path)) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "other services' users must be able to read the index"


def test_crash_between_the_two_renames_is_detected(
    tmp_path: Path, small: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "products.faiss"
    VectorIndex.build(*small).save(path, model="m", fingerprint="old")
    real_replace = os.replace

    def replace_then_crash_on_meta(src: str, dst: str | Path) -> None:
        if str(dst).endswith(".meta.json"):
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr("retrieval.index.os.replace", replace_then_crash_on_meta)
    with pytest.raises(OSError, match="disk full"):
        VectorIndex.build(small[0][:2], small[1][:2]).save(path, model="m", fingerprint="new")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["products.faiss", "products.faiss.meta.json"]
    with pytest.raises(RetrievalUnavailable, match="vector count is 2 but its metadata says 5"):
        VectorIndex.load(path)


def test_load_missing_index_says_how_to_build_it(tmp_path: Path, small: tuple[np.ndarray, ...]) -> None:
    path = tmp_path / "products.faiss"
    with pytest.raises(IndexNotBuilt) as missing:
        VectorIndex.load(path)
    assert str(missing.value) == f"product index not found at {path}; run `make build`"

    VectorIndex.build(*small).save(path, model="m", fingerprint="f")
    meta_path(path).unlink()  # an index without its metadata is incomplete
    with pytest.raises(IndexNotBuilt):
        VectorIndex.load(path)


@pytest.mark.parametrize(
    ("kwargs", "meta_change", "message"),
    [
        ({"expected_dim": 384}, {}, "dimension is 16 but the encoder says 384"),
        ({"expected_model": "all-MiniLM-L6-v2"}, {}, "model is 'm' but the encoder says 'all-MiniLM-L6-v2'"),
        ({}, {"dim": 32}, "dimension is 16 but its metadata says 32"),
        ({}, {"count": 6}, "vector count is 5 but its metadata says 6"),
    ],
)
def test_load_rejects_an_index_that_does_not_match(
    tmp_path: Path,
    small: tuple[np.ndarray, ...],
    kwargs: dict[str, object],
    meta_change: dict[str, object],
    message: str,
) -> None:
    path = tmp_path / "products.faiss"
    VectorIndex.build(*small).save(path, model="m", fingerprint="f")
    meta = json.loads(meta_path(path).read_text())
    meta_path(path).write_text(json.dumps(meta | meta_change))
    with pytest.raises(RetrievalUnavailable, match=message):
        VectorIndex.load(path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("broken", ["index", "meta"])
def test_load_corrupt_files_is_unavailable_not_a_crash(
    tmp_path: Path, small: tuple[np.ndarray, ...], broken: str
) -> None:
    path = tmp_path / "products.faiss"
    VectorIndex.build(*small).save(path, model="m", fingerprint="f")
    (path if broken == "index" else meta_path(path)).write_bytes(b"\x00garbage")
    with pytest.raises(RetrievalUnavailable, match="run `make build`"):
        VectorIndex.load(path)
