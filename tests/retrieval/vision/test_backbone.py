"""The EfficientNet-Lite backbone on real photos: ImageNet labels that make sense, torch and ONNX agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.vision.backbone import (
    DEFAULT_VARIANT,
    ImageModel,
    Runtime,
    TorchImageModel,
    Variant,
    load_image_model,
    onnx_path,
    to_input,
    weights_file,
)
from retrieval.vision.errors import VisionUnavailable
from retrieval.vision.labels import top_labels
from tests.retrieval.vision import images


def test_inputs_are_centre_cropped_and_scaled_like_the_lite_models_were_trained() -> None:
    x = to_input(Image.new("RGB", (600, 400), (255, 127, 0)), 260)
    assert x.shape == (1, 3, 260, 260) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], [(255 - 127) / 128, 0.0, -127 / 128])
    flipped = to_input(images.coffee(), 224, flip=True)
    assert np.allclose(flipped, to_input(images.coffee(), 224)[..., ::-1])


def test_every_variant_has_its_weights_installed() -> None:
    for variant in Variant:
        assert weights_file(variant).stat().st_size > 10_000_000


def test_the_onnx_file_name_follows_the_weights(tmp_path: Path) -> None:
    assert onnx_path(tmp_path, Variant.LITE0) != onnx_path(tmp_path, Variant.LITE2)
    assert onnx_path(tmp_path, Variant.LITE2).name.startswith("efficientnet-lite2-")


def test_a_missing_onnx_file_says_how_to_build_it(tmp_path: Path) -> None:
    from retrieval.vision.backbone import OnnxImageModel

    with pytest.raises(VisionUnavailable, match=r"python -m retrieval\.vision build"):
        OnnxImageModel(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_real_photos_get_sensible_imagenet_labels(onnx_model: ImageModel) -> None:
    coffee = [label.name for label in top_labels(onnx_model.features(images.coffee()).logits, 3)]
    assert "espresso" in coffee or "tea cup" in coffee or "coffee mug" in coffee, coffee
    cat = top_labels(onnx_model.features(images.chelsea()).logits, 5)
    assert any("cat" in label.name or label.name == "Egyptian Mau" for label in cat), cat
    assert sum(label.probability for label in cat) <= 1.0 and cat[0].probability >= cat[-1].probability


@pytest.mark.slow
def test_torch_and_onnx_give_the_same_features(onnx_model: ImageModel) -> None:
    torch_model = TorchImageModel(DEFAULT_VARIANT)
    a, b = torch_model.features(images.coffee()), onnx_model.features(images.coffee())
    assert a.embedding.shape == (1280,) and a.logits.shape == (1000,)
    assert np.allclose(a.embedding, b.embedding, atol=1e-3) and np.allclose(a.logits, b.logits, atol=1e-3)


@pytest.mark.slow
def test_the_model_is_loaded_once_per_process(tmp_path: Path) -> None:
    first = load_image_model(Variant.LITE0, Runtime.ONNX, tmp_path)
    assert load_image_model(Variant.LITE0, Runtime.ONNX, tmp_path) is first
    with pytest.raises(ValueError, match="folder"):
        load_image_model(Variant.LITE0, Runtime.ONNX, None)
