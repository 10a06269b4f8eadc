"""Zero-shot photo → product for a store with no trained head: ImageNet label probabilities pushed through the text
similarity of label names and product names (the project's MiniLM sentence encoder).

score(product) = Σ_label p(label | photo) · softmax_products(cos(label text, product text) / T)

No photo of the store is needed, so it is the baseline the trained head and the iconic-image neighbours are
measured against (`bench/vision_quality.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from retrieval.encoder import TextEncoder
from retrieval.vision.head import log_softmax
from retrieval.vision.labels import class_names

FloatArray = npt.NDArray[np.float32]


class LabelTextMapper:
    """Maps ImageNet label probabilities to log-probabilities over products by text similarity."""

    def __init__(self, encoder: TextEncoder, product_texts: Sequence[str], temperature: float = 0.05) -> None:
        labels = encoder.encode([f"a photo of a {name}" for name in class_names()])
        products = encoder.encode(list(product_texts))
        self._label_to_product = np.exp(log_softmax((labels @ products.T / temperature).astype(np.float32)))

    def log_proba(self, imagenet_logits: FloatArray) -> FloatArray:
        """Rows of ImageNet logits (n × 1000) → log-probabilities over the products (n × products)."""
        p = np.exp(log_softmax(np.atleast_2d(imagenet_logits).astype(np.float32)))
        result: FloatArray = np.log(np.maximum(p @ self._label_to_product, 1e-12)).astype(np.float32)
        return result
