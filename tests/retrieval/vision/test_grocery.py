"""The grocery matcher's protocol: grouped folds, choices made on `train` only, the refusal threshold, the artifacts,
and (slow) real out-of-store photos refused while real shelf photos are not."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from catalog.grocery_store import GroceryProduct, read_products, read_split
from catalog.types import Product
from retrieval.vision.backbone import ImageModel
from retrieval.vision.embeddings import embed_files, open_rgb
from retrieval.vision.errors import VisionUnavailable
from retrieval.vision.grocery import (
    REFERENCE_FILE,
    GroceryEmbeddings,
    Split,
    cross_validate,
    fit_head,
    grouped_folds,
    load_artifacts,
    reference_vectors,
    save_artifacts,
    training_set,
)
from retrieval.vision.photo_search import VisualPhotoSearch, nearest_similarity
from tests.retrieval.fakes import InMemoryProducts
from tests.retrieval.vision import images

DIM = 1280


def products(n: int) -> list[GroceryProduct]:
    return [GroceryProduct(i, f"Product-{i}", i % 2, "Coarse", Path(f"/icons/{i}.jpg"), "") for i in range(n)]


def synthetic_store(seed: int = 0, classes: int = 4, shots: int = 5, copies: int = 1) -> GroceryEmbeddings:
    """Each class: a centre; per class 4 "shelves" (clusters) of `shots` near-duplicate photos each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, DIM)).astype(np.float32)

    def photos(per_class_shelves: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        rows, labels = [], []
        for cls in range(classes):
            for _ in range(per_class_shelves):
                shelf = centres[cls] + spread * rng.normal(size=DIM)
                for _ in range(shots):
                    rows.append(shelf + 0.05 * rng.normal(size=DIM))
                    labels.append(cls)
        return np.asarray(rows, np.float32), np.asarray(labels, np.int64)

    def split(x: np.ndarray, y: np.ndarray, n_copies: int) -> Split:
        augmented = np.zeros((n_copies, *x.shape), np.float32)
        for copy in range(n_copies):
            augmented[copy] = x + 0.1 * rng.normal(size=x.shape)
        return Split(x, x[:, ::-1].copy(), np.zeros((len(x), 1000), np.float32), y, y % 2, augmented)

    train_x, train_y = photos(4, 0.8)
    val_x, val_y = photos(1, 0.8)
    icons = centres + 0.3 * rng.normal(size=centres.shape).astype(np.float32)
    return GroceryEmbeddings(
        products(classes),
        split(train_x, train_y, copies),
        split(val_x, val_y, 0),
        icons,
        icons.copy(),
        np.stack([icons + 0.1 * rng.normal(size=icons.shape) for _ in range(2)]).astype(np.float32),
    )


def test_near_duplicate_shots_share_a_fold_and_every_fold_has_every_class() -> None:
    data = synthetic_store()
    folds = grouped_folds(data.train.embeddings, data.train.fine, folds=4, min_similarity=0.7)
    shelves = np.arange(len(folds)) // 5  # 5 consecutive rows = one shelf of near-duplicates
    for shelf in np.unique(shelves):
        assert len(set(folds[shelves == shelf].tolist())) == 1, f"shelf {shelf} was split across folds"
    for fold in range(4):
        assert set(data.train.fine[folds == fold].tolist()) == set(range(4))
    assert np.bincount(folds).tolist() == [20, 20, 20, 20]


def test_the_training_set_holds_every_view() -> None:
    data = synthetic_store(copies=2)
    x, y = training_set(data, np.arange(10))
    assert x.shape == (10 * 4 + 4 * 4, DIM)  # train: plain, mirrored, 2 augmented; icons: plain, mirrored, 2 augmented
    assert np.bincount(y[:40]).sum() == 40 and set(y[40:].tolist()) == {0, 1, 2, 3}


def test_choices_depend_on_train_only_and_the_refusal_keeps_99_percent() -> None:
    data = synthetic_store()
    folds = grouped_folds(data.train.embeddings, data.train.fine, folds=4)
    tuned = cross_validate(data, "test", folds, c_grid=(10.0, 100.0))
    scrambled_val = replace(
        data, val=replace(data.val, fine=data.val.fine[::-1].copy(), embeddings=-data.val.embeddings)
    )
    assert cross_validate(scrambled_val, "test", folds, c_grid=(10.0, 100.0)) == tuned
    assert tuned.cv.top1 > 0.9 and tuned.cv_pass_rate >= 0.99
    far = np.random.default_rng(9).normal(size=(5, DIM)).astype(np.float32)
    assert (nearest_similarity(far, reference_vectors(data)) < tuned.combination.min_similarity).all()
    assert (nearest_similarity(data.val.embeddings, reference_vectors(data)) >= tuned.combination.min_similarity).all()


def test_artifacts_round_trip_and_a_broken_reference_says_how_to_fix(tmp_path: Path) -> None:
    data = synthetic_store()
    tuned = cross_validate(data, "efficientnet-lite2@260px/onnx", grouped_folds(data.train.embeddings, data.train.fine))
    head = fit_head(data, "efficientnet-lite2@260px/onnx", tuned.c)
    save_artifacts(tmp_path, data, head, tuned, {"cv_top1": tuned.cv.top1})

    class Named:
        variant = type("V", (), {"value": "lite2"})()
        size = 260
        runtime = type("R", (), {"value": "onnx"})()

    loaded = load_artifacts(tmp_path, Named())  # type: ignore[arg-type]
    assert loaded.combination == tuned.combination and loaded.reference.shape == (len(data.train.fine) + 4, DIM)
    assert np.allclose(loaded.reference, reference_vectors(data), atol=1e-3)
    np.save(tmp_path / REFERENCE_FILE, np.zeros((3, 7), np.float16))
    with pytest.raises(VisionUnavailable, match=r"retrieval\.vision build"):
        load_artifacts(tmp_path, Named())  # type: ignore[arg-type]


@pytest.mark.slow
def test_out_of_store_photos_are_refused_and_shelf_photos_are_not(onnx_model: ImageModel, grocery_dir: Path) -> None:
    """A small real store (6 products, real train, iconic and val photos): the espresso cup and the cat get no
    products; the held-out shelf photos get their products."""
    names = {"Banana", "Red-Bell-Pepper", "Oatly-Oat-Milk", "Lime", "Arla-Standard-Milk", "Granny-Smith"}
    chosen = [p for p in read_products(grocery_dir) if p.name in names]
    index = {p.class_id: n for n, p in enumerate(chosen)}
    store = [replace(p, class_id=index[p.class_id]) for p in chosen]

    def split(name: str, step: int) -> Split:
        photos = [ph for ph in read_split(grocery_dir, name) if ph.class_id in index][::step]
        files = [ph.path for ph in photos]
        plain = embed_files(onnx_model, files, None, progress=False)
        mirrored = embed_files(onnx_model, files, None, flip=True, progress=False)
        fine = np.asarray([index[ph.class_id] for ph in photos], np.int64)
        return Split(plain.embeddings, mirrored.embeddings, plain.logits, fine, fine, np.zeros((0, len(files), DIM)))

    icons = [p.iconic_image for p in store]
    data = GroceryEmbeddings(
        store,
        split("train", 2),
        split("val", 1),
        embed_files(onnx_model, icons, None, progress=False).embeddings,
        embed_files(onnx_model, icons, None, flip=True, progress=False).embeddings,
        np.zeros((0, len(icons), DIM), np.float32),
    )
    tuned = cross_validate(data, "test", grouped_folds(data.train.embeddings, data.train.fine), c_grid=(1000.0,))
    head = fit_head(data, "test", tuned.c)
    ids = [p.product_id for p in store]
    catalogue = InMemoryProducts(Product(p.product_id, p.sku, p.title, Decimal(0)) for p in store)
    search = VisualPhotoSearch(onnx_model, head, None, ids, catalogue, tuned.combination, reference_vectors(data))
    for photo in (images.coffee(), images.chelsea()):
        assert search.search(photo).hits == []
    val = [ph for ph in read_split(grocery_dir, "val") if ph.class_id in index]
    answered = correct = 0
    for photo in val:
        match = search.search(open_rgb(photo.path), k=3)
        answered += bool(match.hits)
        correct += bool(match.hits) and match.hits[0].product.id == index[photo.class_id] + 1
    assert answered >= 0.9 * len(val), f"{len(val) - answered} of {len(val)} real shelf photos refused"
    assert correct >= 0.8 * len(val), f"{correct}/{len(val)}"
