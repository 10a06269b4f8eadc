"""A trained classification head over backbone embeddings, and its saved, versioned artifact.

Multinomial logistic regression on L2-normalised embeddings, with scikit-learn's objective (C times the summed log
loss plus half the squared weights) minimised by full-batch L-BFGS in torch: a few seconds for ten thousand
embeddings, which matters because the grocery build fits one head per cross-validation fold and C. Served with plain
numpy. The artifact is a `.npz` (weights) beside a `.json` (classes, backbone, metrics,
version): `<name>-v<N>.npz`; a new training run writes the next version and never overwrites an old one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from retrieval.vision.errors import VisionUnavailable

FloatArray = npt.NDArray[np.float32]
ARTIFACT_FORMAT = 1


def normalise(x: npt.ArrayLike) -> FloatArray:
    """Rows scaled to unit length (zero rows stay zero)."""
    a = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    result: FloatArray = (a / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


def log_softmax(scores: FloatArray) -> FloatArray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    result: FloatArray = (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).astype(np.float32)
    return result


@dataclass(frozen=True)
class HeadInfo:
    classes: list[str]
    """Class names in output order."""
    backbone: str
    """What made the embeddings, e.g. 'efficientnet-lite2/onnx' (a head only fits its own backbone)."""
    trained_at: str
    version: int
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    format: int = ARTIFACT_FORMAT


class LinearHead:
    """Scores = normalise(embedding) @ W.T + b; `log_proba` gives per-class log-probabilities."""

    def __init__(self, weights: FloatArray, bias: FloatArray, info: HeadInfo) -> None:
        if weights.shape != (len(info.classes), weights.shape[1]) or bias.shape != (len(info.classes),):
            raise ValueError(f"weights {weights.shape} and bias {bias.shape} do not fit {len(info.classes)} classes")
        self.weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.info = info

    @classmethod
    def fit(
        cls, x: FloatArray, y: npt.NDArray[np.int64], classes: list[str], backbone: str, c: float = 10.0
    ) -> LinearHead:
        """Train on embeddings `x` (n × d) with labels `y` (indexes into `classes`)."""
        if c <= 0:
            raise ValueError(f"the regularisation C must be positive, got {c}")
        present = np.unique(y)
        coef, intercept = _softmax_regression(normalise(x), np.searchsorted(present, y), len(present), c)
        weights = np.zeros((len(classes), x.shape[1]), np.float32)
        bias = np.full(len(classes), -1e4, np.float32)  # a class without training examples is never predicted
        weights[present] = coef
        bias[present] = intercept
        info = HeadInfo(classes, backbone, datetime.now(UTC).isoformat(timespec="seconds"), 0, params={"C": c})
        return cls(weights, bias, info)

    def log_proba(self, x: npt.ArrayLike) -> FloatArray:
        a = np.atleast_2d(np.asarray(x, dtype=np.float32))
        return log_softmax(normalise(a) @ self.weights.T + self.bias)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        result: npt.NDArray[np.int64] = np.argmax(self.log_proba(x), axis=1).astype(np.int64)
        return result

    def save(self, folder: Path, name: str, metrics: dict[str, float] | None = None) -> Path:
        """Write the next version `<name>-v<N>.npz` + `.json` into `folder`; returns the `.npz` path."""
        folder.mkdir(parents=True, exist_ok=True)
        version = latest_version(folder, name) + 1
        self.info = HeadInfo(**{**asdict(self.info), "version": version, "metrics": dict(metrics or {})})
        path = folder / f"{name}-v{version}.npz"
        np.savez(path, weights=self.weights, bias=self.bias)
        path.with_suffix(".json").write_text(json.dumps(asdict(self.info), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        meta = path.with_suffix(".json")
        if not (path.is_file() and meta.is_file()):
            raise VisionUnavailable(f"no trained head at {path}; run `python -m retrieval.vision build`")
        try:
            info = HeadInfo(**json.loads(meta.read_text(encoding="utf-8")))
            with np.load(path) as arrays:
                return cls(arrays["weights"], arrays["bias"], info)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise VisionUnavailable(f"unreadable head {path}: {exc}; train it again") from exc


def _softmax_regression(
    x: FloatArray, y: npt.NDArray[np.int64], n_classes: int, c: float, max_iter: int = 500
) -> tuple[FloatArray, FloatArray]:
    """Weights and bias minimising mean log loss + ||W||² / (2 C n) (scikit-learn's objective divided by C n)."""
    import torch

    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    targets = torch.from_numpy(np.asarray(y, dtype=np.int64))
    weights = torch.zeros(n_classes, features.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    penalty = 1.0 / (c * len(targets))
    optimiser = torch.optim.LBFGS(
        [weights, bias],
        max_iter=max_iter,
        tolerance_grad=1e-7,
        tolerance_change=1e-10,
        history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(features @ weights.T + bias, targets)
        loss = loss + 0.5 * penalty * (weights * weights).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    return weights.detach().numpy().astype(np.float32), bias.detach().numpy().astype(np.float32)


def latest_version(folder: Path, name: str) -> int:
    """The highest saved version of `name` in `folder` (any artifact kind: its `.json`), 0 when there is none."""
    pattern = re.compile(rf"^{re.escape(name)}-v(\d+)\.json$")
    versions = [int(m.group(1)) for p in folder.glob(f"{name}-v*.json") if (m := pattern.match(p.name))]
    return max(versions, default=0)


def latest_path(folder: Path, name: str) -> Path:
    version = latest_version(folder, name)
    if version == 0:
        raise VisionUnavailable(f"no trained head {name!r} in {folder}; run `python -m retrieval.vision build`")
    return folder / f"{name}-v{version}.npz"
