"""Index kinds by size, add/update/remove without a rebuild, filtered search, and swapping a rebuilt index while
queries run. Exact answers come from numpy brute force on seeded data."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from retrieval.build import bm25_dir, ensure_product_index
from retrieval.hybrid import SearchRequest
from retrieval.index import FLAT_MAX_VECTORS, IndexKind, VectorIndex, choose_index_kind
from retrieval.service import open_hybrid_search, refresh
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder


def unit(n: int, d: int = 16, seed: int = 0) -> npt.NDArray[np.float32]:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(
    vectors: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], q: npt.NDArray[np.float32], k: int
) -> list[int]:
    return [int(i) for i in ids[np.argsort(-(vectors @ q))[:k]]]


def test_index_kind_follows_size() -> None:
    assert choose_index_kind(5_000) is IndexKind.FLAT
    assert choose_index_kind(FLAT_MAX_VECTORS) is IndexKind.FLAT
    assert choose_index_kind(FLAT_MAX_VECTORS + 1) is IndexKind.IVF


@pytest.mark.parametrize("kind", list(IndexKind))
def test_add_remove_upsert_match_brute_force(kind: IndexKind, tmp_path: Path) -> None:
    x, ids = unit(2000), np.arange(100, 2100, dtype=np.int64)
    index = VectorIndex.build(ids[:1500], x[:1500], kind=kind)
    index.nprobe = 1_000_000  # every list: exact, so the comparison is strict
    assert index.kind is kind
    index.add(ids[1500:], x[1500:])
    with pytest.raises(ValueError, match="upsert"):
        index.add(ids[:1], x[:1])
    assert index.remove(ids[:100]) == 100 and index.remove(ids[:100]) == 0
    moved = unit(50, seed=9)
    index.upsert(ids[200:250], moved)
    live_ids = ids[100:]
    live = x[100:].copy()
    live[100:150] = moved
    assert sorted(index.ids().tolist()) == live_ids.tolist()
    for q in unit(5, seed=3):
        _, found = index.search(q, 10)
        assert found[0].tolist() == brute(live, live_ids, q, 10)
    index.save(tmp_path / "i.faiss", model="m", fingerprint="f")
    loaded = VectorIndex.load(tmp_path / "i.faiss")
    assert loaded.kind is kind and len(loaded) == len(live_ids)


@pytest.mark.parametrize("kind", list(IndexKind))
def test_search_with_allowed_ids_is_exact_over_the_subset(kind: IndexKind) -> None:
    x, ids = unit(1000), np.arange(1000, dtype=np.int64) * 3
    index = VectorIndex.build(ids, x, kind=kind)
    index.nprobe = 1_000_000
    allowed = ids[::7]
    q = unit(1, seed=5)[0]
    _, found = index.search(q, 10, allowed=allowed)
    assert found[0].tolist() == brute(x[::7], allowed, q, 10)
    _, few = index.search(q, 10, allowed=allowed[:3])
    assert sorted(few[0].tolist()) == sorted(allowed[:3].tolist())  # fewer than k: no -1 padding
    _, none = index.search(q, 10, allowed=np.array([], dtype=np.int64))
    assert none.shape == (1, 0)


def test_an_update_encodes_only_new_and_changed_products(tmp_path: Path) -> None:
    encoder, path = HashingEncoder(), tmp_path / "products.faiss"
    ensure_product_index(SAMPLE_PRODUCTS, encoder, path, "sig", progress=False)
    encoder.texts.clear()
    changed = dataclasses.replace(SAMPLE_PRODUCTS[0], title="LUNCH BAG BLUE STRIPES")
    new = dataclasses.replace(SAMPLE_PRODUCTS[1], id=99_999, sku="NEW1", title="BRAND NEW MUG")
    catalogue = (changed, *SAMPLE_PRODUCTS[1:-1], new)  # the last product is gone
    report = ensure_product_index(catalogue, encoder, path, "sig", progress=False)
    assert report.incremental and (report.encoded, report.removed) == (2, 1)
    assert sorted(encoder.texts) == ["brand new mug", "lunch bag blue stripes"]
    index = VectorIndex.load(path)
    assert sorted(index.ids().tolist()) == sorted(p.id for p in catalogue)
    _, top = index.search(encoder.encode(["lunch bag blue stripes"]), 1)
    assert int(top[0][0]) == changed.id
    assert bm25_dir(path).is_dir()
    again = ensure_product_index(catalogue, encoder, path, "sig", progress=False)
    assert again.built is False


def test_a_rebuilt_index_is_swapped_in_while_queries_run(tmp_path: Path) -> None:
    encoder, path = HashingEncoder(), tmp_path / "products.faiss"
    old, new = SAMPLE_PRODUCTS[:16], SAMPLE_PRODUCTS[16:]
    ensure_product_index(old, encoder, path, "sig", progress=False)
    search = open_hybrid_search(path, old, encoder)
    errors: list[BaseException] = []
    seen: set[frozenset[str]] = set()
    stop = threading.Event()

    def query() -> None:
        while not stop.is_set():
            try:
                hits = search.find(SearchRequest("bag", k=50)).hits
                seen.add(frozenset("old" if h.product in old else "new" for h in hits))
            except BaseException as exc:  # any failure of a reader fails the test
                errors.append(exc)

    readers = [threading.Thread(target=query) for _ in range(3)]
    for r in readers:
        r.start()
    for _ in range(5):
        ensure_product_index(new, encoder, path, "sig", force=True, progress=False)
        assert refresh(search, path, new, encoder)
        ensure_product_index(old, encoder, path, "sig", force=True, progress=False)
        assert refresh(search, path, old, encoder)
    stop.set()
    for r in readers:
        r.join()
    assert errors == []
    assert all(len(s) <= 1 for s in seen), "a query never mixes the old and the new catalogue"
    assert not refresh(search, path, old, encoder), "nothing to swap when the served index is the saved one"


def test_ivf_nprobe_is_calibrated_for_recall_and_saved(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    centres = unit(40, d=32, seed=2)
    x = centres[rng.integers(0, 40, 6000)] + rng.standard_normal((6000, 32)).astype(np.float32) * 0.1
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(6000, dtype=np.int64)
    index = VectorIndex.build(ids, x, kind=IndexKind.IVF)
    assert 1 <= index.nprobe < 123  # fewer lists than all of them (nlist = 4·√6000 ≈ 123 here)
    queries = unit(50, d=32, seed=8) * 0.3 + centres[rng.integers(0, 40, 50)]
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = np.mean([len(set(index.search(q, 10)[1][0]) & set(brute(x, ids, q, 10))) / 10 for q in queries])
    assert recall >= 0.95
    index.save(tmp_path / "ivf.faiss", model="m", fingerprint="f")
    assert VectorIndex.load(tmp_path / "ivf.faiss").nprobe == index.nprobe
