"""Photo → products for both kinds of store, on real photos (scikit-image samples, grocery shelf photos)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from catalog.grocery_store import read_products, read_split
from catalog.types import Product
from retrieval.index import VectorIndex
from retrieval.vision.backbone import ImageFeatures, ImageModel, Runtime, Variant
from retrieval.vision.embeddings import open_rgb
from retrieval.vision.head import LinearHead, normalise
from retrieval.vision.photo_search import Combination, LabelPhotoSearch, VisualPhotoSearch, combined_log_proba
from tests.retrieval.fakes import InMemoryProducts, KeywordProductSearch
from tests.retrieval.vision import images

# Real Online Retail titles
SHOP = [
    Product(1, "21238", "RED SPOTTY CUP", Decimal("0.85")),
    Product(2, "21240", "BLUE SPOTTY CUP", Decimal("0.85")),
    Product(3, "21066", "VINTAGE RED MUG", Decimal("1.25")),
    Product(4, "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", Decimal("2.95")),
    Product(5, "20725", "LUNCH BAG RED RETROSPOT", Decimal("1.65")),
]


class FixedLogits:
    """An `ImageModel` stand-in whose labels are given (for the mapping rules, not the vision)."""

    variant = Variant.LITE2
    runtime = Runtime.ONNX
    size = 260

    def __init__(self, **probabilities: float) -> None:
        self.logits = np.full(1000, -20.0, np.float32)
        from retrieval.vision.labels import class_names

        names = class_names()
        for name, p in probabilities.items():
            self.logits[names.index(name.replace("_", " "))] = np.log(p)

    def features(self, image: object, flip: bool = False) -> ImageFeatures:
        return ImageFeatures(self.logits, np.ones(1280, np.float32))

    def features_of_input(self, x: object) -> ImageFeatures:
        return ImageFeatures(self.logits, np.ones(1280, np.float32))


def test_a_label_without_a_phrase_means_nothing_we_sell() -> None:
    search = LabelPhotoSearch(FixedLogits(tabby_cat=0.7), KeywordProductSearch(SHOP))
    match = search.search(images.chelsea())
    assert match.hits == [] and match.looks_like == "tabby cat"
    spread = FixedLogits(tabby_cat=0.25, goldfish=0.25, tench=0.25, hornbill=0.25)
    unsure = LabelPhotoSearch(spread, KeywordProductSearch(SHOP)).search(images.coffee())
    assert unsure.hits == [] and unsure.looks_like is None


def test_unlikely_labels_do_not_trigger_a_search() -> None:
    search = LabelPhotoSearch(FixedLogits(tabby_cat=0.9, coffee_mug=0.02), KeywordProductSearch(SHOP))
    assert search.search(images.chelsea()).hits == []


def test_mapped_labels_search_their_phrases_without_duplicates() -> None:
    search = LabelPhotoSearch(FixedLogits(coffee_mug=0.5, espresso=0.3), KeywordProductSearch(SHOP))
    match = search.search(images.coffee(), k=5)
    assert match.looks_like == "coffee mug" and match.search_phrase == "mug"
    assert [h.product.sku for h in match.hits] == ["21066", "21238", "21240"]


@pytest.mark.slow
def test_the_coffee_photo_finds_cups_and_the_cat_photo_finds_nothing(onnx_model: ImageModel) -> None:
    search = LabelPhotoSearch(onnx_model, KeywordProductSearch(SHOP))
    coffee = search.search(images.coffee())
    assert coffee.search_phrase in {"cup", "teacup", "mug"}
    assert coffee.hits and all("CUP" in h.product.title or "MUG" in h.product.title for h in coffee.hits)
    cat = search.search(images.chelsea())
    assert cat.hits == [] and cat.looks_like is not None and "cat" in cat.looks_like.lower() + " cat"


def test_the_combination_weights_head_and_iconic_neighbours() -> None:
    head = np.log(np.array([[0.7, 0.2, 0.1]], np.float32))
    sims = np.array([[0.1, 0.9, 0.2]], np.float32)
    only_head = combined_log_proba(head, sims, Combination(head_weight=1.0))
    assert np.allclose(np.exp(only_head), [[0.7, 0.2, 0.1]], atol=1e-5)
    only_iconic = combined_log_proba(head, sims, Combination(head_weight=0.0, temperature=0.05))
    assert int(np.argmax(only_iconic)) == 1
    assert np.allclose(np.exp(combined_log_proba(head, sims, Combination(0.5))).sum(), 1.0, atol=1e-5)
    assert np.allclose(
        combined_log_proba(head, None, Combination(0.3)), combined_log_proba(head, sims, Combination(1.0))
    )


@pytest.mark.slow
def test_shelf_photos_find_their_product_in_a_store_with_images(onnx_model: ImageModel, grocery_dir: Path) -> None:
    """A head trained on a few real train photos of 4 products + their iconic images finds held-out val photos."""
    products = [
        p for p in read_products(grocery_dir) if p.name in {"Banana", "Red-Bell-Pepper", "Oatly-Oat-Milk", "Lime"}
    ]
    classes = {p.class_id: n for n, p in enumerate(products)}
    train = [ph for ph in read_split(grocery_dir, "train") if ph.class_id in classes]
    train = [ph for n, ph in enumerate(train) if n % 3 == 0]
    x = np.stack([onnx_model.features(open_rgb(ph.path)).embedding for ph in train])
    y = np.asarray([classes[ph.class_id] for ph in train], np.int64)
    head = LinearHead.fit(x, y, [p.title for p in products], "test", c=100.0)
    icons = normalise(np.stack([onnx_model.features(open_rgb(p.iconic_image)).embedding for p in products]))
    ids = [p.product_id for p in products]
    catalogue = InMemoryProducts(Product(p.product_id, p.sku, p.title, Decimal(0)) for p in products)
    search = VisualPhotoSearch(onnx_model, head, VectorIndex.build(ids, icons), ids, catalogue, Combination(0.7, 0.1))
    val = [ph for ph in read_split(grocery_dir, "val") if ph.class_id in classes][::2]
    correct = 0
    for photo in val:
        match = search.search(open_rgb(photo.path), k=3)
        assert len(match.hits) == 3 and match.looks_like == match.hits[0].product.title
        correct += match.hits[0].product.id == photo.class_id + 1
    assert correct / len(val) >= 0.8, f"{correct}/{len(val)}"
