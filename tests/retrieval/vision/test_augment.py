"""Train-time augmentation: random views of a real photo, reproducible per (file, copy), scaled like the plain input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.vision.augment import Augmentation, augment, embed_augmented, seed_of
from retrieval.vision.backbone import ImageModel, to_input
from tests.retrieval.vision import images


def test_views_are_backbone_inputs_that_differ_but_repeat_with_the_seed() -> None:
    photo = images.coffee()
    first = augment(photo, 224, np.random.default_rng(1))
    again = augment(photo, 224, np.random.default_rng(1))
    other = augment(photo, 224, np.random.default_rng(2))
    assert first.shape == (1, 3, 224, 224) and first.dtype == np.float32
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert first.min() >= -127 / 128 - 1e-6 and first.max() <= 128 / 128 + 1e-6
    assert seed_of(Path("a/x.jpg"), 0) == seed_of(Path("b/x.jpg"), 0) != seed_of(Path("a/x.jpg"), 1)


def test_without_crop_jitter_or_flip_a_view_is_the_whole_photo_resized() -> None:
    square = images.coffee().crop((0, 0, 400, 400))
    still = Augmentation(min_area=1.0, max_area=1.0, min_ratio=1.0, max_ratio=1.0, jitter=0.0, flip=0.0)
    assert np.allclose(augment(square, 200, np.random.default_rng(0), still), to_input(square, 200), atol=1e-6)


@pytest.mark.slow
def test_augmented_embeddings_are_cached_per_copy(onnx_model: ImageModel, tmp_path: Path) -> None:
    photo = tmp_path / "coffee.jpg"
    images.coffee().save(photo)
    first = embed_augmented(onnx_model, [photo], tmp_path / "cache", 0, progress=False)
    assert len(list((tmp_path / "cache").glob("aug-*.npz"))) == 1
    assert np.array_equal(
        embed_augmented(onnx_model, [photo], tmp_path / "cache", 0, progress=False).embeddings, first.embeddings
    )
    second = embed_augmented(onnx_model, [photo], tmp_path / "cache", 1, progress=False)
    assert len(list((tmp_path / "cache").glob("aug-*.npz"))) == 2
    assert not np.allclose(first.embeddings, second.embeddings)
