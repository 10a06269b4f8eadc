"""The linear head: it learns, it saves versioned artifacts, it refuses broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.vision.errors import VisionUnavailable
from retrieval.vision.head import LinearHead, latest_path, latest_version, log_softmax, normalise


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * 3
    y = rng.integers(0, 3, 300)
    return (centres[y] + rng.normal(size=(300, 16))).astype(np.float32), y.astype(np.int64)


def test_the_head_separates_separable_classes() -> None:
    x, y = blobs()
    head = LinearHead.fit(x, y, ["a", "b", "c"], "test-backbone")
    assert float(np.mean(head.predict(x) == y)) > 0.95
    assert np.allclose(np.exp(head.log_proba(x[:5])).sum(axis=1), 1.0, atol=1e-5)


def test_a_class_without_examples_is_never_predicted() -> None:
    x, y = blobs()
    head = LinearHead.fit(x[y < 2], y[y < 2], ["a", "b", "never seen"], "test")
    assert set(head.predict(x).tolist()) <= {0, 1}


def test_artifacts_are_versioned_and_round_trip(tmp_path: Path) -> None:
    x, y = blobs()
    head = LinearHead.fit(x, y, ["a", "b", "c"], "test-backbone")
    first = head.save(tmp_path, "shop", {"accuracy": 0.9})
    second = head.save(tmp_path, "shop", {"accuracy": 0.95})
    assert (first.name, second.name) == ("shop-v1.npz", "shop-v2.npz") and first.is_file()
    assert latest_version(tmp_path, "shop") == 2 and latest_path(tmp_path, "shop") == second
    loaded = LinearHead.load(second)
    assert loaded.info.version == 2 and loaded.info.metrics == {"accuracy": 0.95}
    assert loaded.info.classes == ["a", "b", "c"] and loaded.info.backbone == "test-backbone"
    assert np.allclose(loaded.log_proba(x[:10]), head.log_proba(x[:10]))


def test_missing_or_broken_artifacts_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(VisionUnavailable, match=r"retrieval\.vision build"):
        latest_path(tmp_path, "shop")
    (tmp_path / "shop-v1.npz").write_bytes(b"not numpy")
    (tmp_path / "shop-v1.json").write_text("{}")
    with pytest.raises(VisionUnavailable, match="train it again"):
        LinearHead.load(tmp_path / "shop-v1.npz")


def test_normalise_and_log_softmax() -> None:
    assert np.allclose(np.linalg.norm(normalise(np.array([[3.0, 4.0], [0.0, 0.0]])), axis=1), [1.0, 0.0])
    assert np.allclose(np.exp(log_softmax(np.array([[1.0, 2.0, 3.0]], np.float32))).sum(), 1.0)
