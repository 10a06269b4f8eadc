"""Composition: the active store's `PhotoSearch`, from the settings (used by the action server and the CLI).

- the reference store (no product images): `LabelPhotoSearch` over the existing text product search;
- the grocery store: `VisualPhotoSearch` over its trained head and iconic-image index (`python -m retrieval.vision
  build` makes them), with the products from its own catalog database.
"""

from __future__ import annotations

from pathlib import Path

from assistant.settings import Settings, Store
from retrieval.search import ProductLookup, ProductSearch
from retrieval.vision.backbone import DEFAULT_RUNTIME, DEFAULT_SIZE, DEFAULT_VARIANT, ImageModel, load_image_model
from retrieval.vision.photo_search import LabelPhotoSearch, PhotoSearch, VisualPhotoSearch


def image_model(settings: Settings) -> ImageModel:
    """The process-wide backbone (ONNX export kept in the store's vision folder)."""
    return load_image_model(DEFAULT_VARIANT, DEFAULT_RUNTIME, settings.vision_dir / "onnx", DEFAULT_SIZE)


def grocery_artifacts_dir(settings: Settings) -> Path:
    return settings.vision_dir / "grocery"


def build_photo_search(settings: Settings, products: ProductLookup, text_search: ProductSearch | None) -> PhotoSearch:
    """The active store's photo search. Raises `VisionUnavailable` / `RetrievalUnavailable` with the fix."""
    from retrieval.vision.grocery import load_artifacts

    model = image_model(settings)
    if settings.store is Store.GROCERY_STORE:
        matcher = load_artifacts(grocery_artifacts_dir(settings), model)
        ids = [int(i) for i in range(1, len(matcher.head.info.classes) + 1)]
        return VisualPhotoSearch(
            model, matcher.head, matcher.iconic, ids, products, matcher.combination, matcher.reference
        )
    if text_search is None:
        raise ValueError("a store without product images needs the text product search")
    return LabelPhotoSearch(model, text_search)
