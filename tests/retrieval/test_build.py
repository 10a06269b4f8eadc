"""Building the product index and deciding when it is stale (fake encoder: no model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from catalog.types import Product
from retrieval.build import build_product_index, ensure_product_index, index_fingerprint, model_signature
from retrieval.index import VectorIndex
from retrieval.search import product_text
from tests.retrieval.fakes import SAMPLE_PRODUCTS, HashingEncoder


def test_build_indexes_every_product_under_its_id(tmp_path: Path) -> None:
    encoder, path = HashingEncoder(), tmp_path / "index" / "products.faiss"

    report = build_product_index(SAMPLE_PRODUCTS, encoder, path, fingerprint="fp-1", batch_size=8, progress=False)

    assert (report.count, report.path, report.built) == (len(SAMPLE_PRODUCTS), path, True)
    index = VectorIndex.load(path, expected_dim=encoder.dim, expected_model=encoder.name)
    assert index.meta is not None and index.meta.fingerprint == "fp-1" and index.meta.count == len(SAMPLE_PRODUCTS)
    _, ids = index.search(encoder.encode([product_text(p) for p in SAMPLE_PRODUCTS]), k=1)
    np.testing.assert_array_equal(ids[:, 0], [p.id for p in SAMPLE_PRODUCTS])


def test_fingerprint_follows_ids_texts_and_model() -> None:
    base = index_fingerprint(SAMPLE_PRODUCTS, "model-a")
    retitled = (dataclasses.replace(SAMPLE_PRODUCTS[0], title="LUNCH BAG BLUE"), *SAMPLE_PRODUCTS[1:])
    renumbered = (dataclasses.replace(SAMPLE_PRODUCTS[0], id=1), *SAMPLE_PRODUCTS[1:])
    repriced = (dataclasses.replace(SAMPLE_PRODUCTS[0], price=SAMPLE_PRODUCTS[0].price * 2), *SAMPLE_PRODUCTS[1:])

    assert index_fingerprint(list(SAMPLE_PRODUCTS), "model-a") == base
    assert index_fingerprint(repriced, "model-a") == base, "prices are not embedded: no rebuild needed"
    others = [
        index_fingerprint(retitled, "model-a"),
        index_fingerprint(renumbered, "model-a"),
        index_fingerprint(SAMPLE_PRODUCTS[:-1], "model-a"),
        index_fingerprint(SAMPLE_PRODUCTS, "model-b"),
    ]
    assert len({base, *others}) == 5


def test_model_signature_follows_config_and_weight_size(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "config.json").write_text('{"hidden_size": 384}')
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 10)
    first = model_signature(tmp_path)
    assert model_signature(tmp_path) == first

    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    second = model_signature(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 11)
    assert len({first, second, model_signature(tmp_path)}) == 3


def test_ensure_builds_once_then_skips_until_something_changes(tmp_path: Path) -> None:
    encoder, path = HashingEncoder(), tmp_path / "products.faiss"

    def ensure(products: tuple[Product, ...] = SAMPLE_PRODUCTS, model_sig: str = "sig", force: bool = False) -> bool:
        return ensure_product_index(products, encoder, path, model_sig, force=force, progress=False).built

    assert ensure() is True
    calls = encoder.calls
    report = ensure_product_index(SAMPLE_PRODUCTS, encoder, path, "sig", progress=False)
    assert (report.built, report.count, encoder.calls) == (False, len(SAMPLE_PRODUCTS), calls), "nothing encoded"
    assert ensure(force=True) is True
    assert ensure(products=SAMPLE_PRODUCTS[:10]) is True
    assert len(VectorIndex.load(path)) == 10
    assert ensure(products=SAMPLE_PRODUCTS[:10], model_sig="new model") is True
    assert ensure(products=SAMPLE_PRODUCTS[:10], model_sig="new model") is False


def test_ensure_rebuilds_when_the_index_file_is_gone(tmp_path: Path) -> None:
    encoder, path = HashingEncoder(), tmp_path / "products.faiss"
    ensure_product_index(SAMPLE_PRODUCTS, encoder, path, "sig", progress=False)
    path.unlink()
    assert ensure_product_index(SAMPLE_PRODUCTS, encoder, path, "sig", progress=False).built
    assert len(VectorIndex.load(path)) == len(SAMPLE_PRODUCTS)
