"""Photo → products, behind one interface, for the two kinds of store.

- `LabelPhotoSearch` (a store without product images, the reference store): the photo's ImageNet labels that the
  store has a search phrase for become a text product search ("coffee mug" → "mug" → the store's mugs). When no
  likely label maps to anything the store sells, the answer says so instead of showing unrelated products.
- `VisualPhotoSearch` (a store with product images, the grocery store): a trained head over the embedding and the
  nearest iconic product images, combined as a weighted sum of log-probabilities (weights tuned on held-out photos,
  `bench/vision_quality.py`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from catalog.errors import CatalogError
from retrieval.errors import InvalidQuery, RetrievalUnavailable
from retrieval.index import VectorIndex
from retrieval.search import ProductLookup, ProductSearch, SearchHit
from retrieval.vision.backbone import ImageModel
from retrieval.vision.head import LinearHead, log_softmax, normalise
from retrieval.vision.labels import REFERENCE_STORE_PHRASES, Label, top_labels

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PhotoMatch:
    """What a photo looks like and which of the store's products match it."""

    labels: list[Label]
    """The backbone's top ImageNet labels, best first (for logs and the label in words)."""
    looks_like: str | None
    """What the photo shows in words ('coffee mug', 'Granny Smith apple'), or None when unsure."""
    hits: list[SearchHit]
    """Matching products, best first; empty when nothing the store sells looks like this."""
    search_phrase: str | None = None
    """For a label-mapped search, the phrase searched ('mug')."""


class PhotoSearch(Protocol):
    def search(self, image: Image.Image, k: int = 5) -> PhotoMatch:
        """The store's products that match the photo. Raises `RetrievalUnavailable` when the catalog fails."""
        ...


class LabelPhotoSearch:
    """`PhotoSearch` for a store without product images: ImageNet label → search phrase → text product search."""

    def __init__(
        self,
        model: ImageModel,
        search: ProductSearch,
        phrases: Mapping[int, tuple[str, str]] = REFERENCE_STORE_PHRASES,
        min_probability: float = 0.08,
        top_k_labels: int = 5,
    ) -> None:
        self._model = model
        self._search = search
        self._phrases = phrases
        self._min_probability = min_probability
        self._top_k_labels = top_k_labels

    def search(self, image: Image.Image, k: int = 5) -> PhotoMatch:
        labels = top_labels(self._model.features(image).logits, self._top_k_labels)
        mapped = [label for label in labels if label.index in self._phrases]
        likely = [label for label in mapped if label.probability >= self._min_probability]
        if not likely:
            # Say what it looks like only when the model is fairly sure; otherwise just that nothing matches.
            sure = labels[0].name if labels and labels[0].probability >= 0.3 else None
            return PhotoMatch(labels, sure, [])
        # Several mapped labels usually agree ("coffee mug", "cup"): search the first phrase, then fill up with others.
        hits: list[SearchHit] = []
        seen: set[str] = set()
        phrase = self._phrases[likely[0].index][1]
        for label in likely:
            try:
                found = self._search.search(self._phrases[label.index][1], k)
            except InvalidQuery:
                continue
            for hit in found:
                if hit.product.sku not in seen and len(hits) < k:
                    seen.add(hit.product.sku)
                    hits.append(hit)
        return PhotoMatch(labels, likely[0].name, hits, phrase)


@dataclass(frozen=True)
class Combination:
    """How the head and the iconic-image neighbours are combined, and when a photo is refused (chosen by
    cross-validation on the store's training photos: `retrieval.vision.grocery.cross_validate`)."""

    head_weight: float = 0.7
    """Weight of the head's log-probabilities; the iconic neighbours get the rest."""
    temperature: float = 0.05
    """Softmax temperature over cosine similarities to the iconic images."""
    min_probability: float = 0.0
    """Below this combined probability of the best product, nothing is shown."""
    min_similarity: float = -1.0
    """Below this cosine similarity to the nearest of the store's own photos, the photo is not of this store and
    nothing is shown (needs the reference photos)."""
    flip_tta: bool = False
    """Test-time augmentation: also embed the mirror image and average (a second backbone pass)."""


def nearest_similarity(queries: FloatArray, reference: FloatArray) -> FloatArray:
    """Cosine similarity of each query embedding to its nearest row of `reference` (rows already normalised)."""
    result: FloatArray = (normalise(np.atleast_2d(queries)) @ reference.T).max(axis=1).astype(np.float32)
    return result


def combined_log_proba(
    head_log_proba: FloatArray | None, iconic_similarity: FloatArray | None, combination: Combination
) -> FloatArray:
    """Weighted log-probabilities over the products (rows: photos); either part may be absent."""
    parts: list[FloatArray] = []
    if head_log_proba is not None:
        parts.append(combination.head_weight * head_log_proba if iconic_similarity is not None else head_log_proba)
    if iconic_similarity is not None:
        iconic = log_softmax((iconic_similarity / combination.temperature).astype(np.float32))
        parts.append((1 - combination.head_weight) * iconic if head_log_proba is not None else iconic)
    if not parts:
        raise ValueError("need the head, the iconic-image similarities, or both")
    return log_softmax(np.sum(parts, axis=0).astype(np.float32))


class VisualPhotoSearch:
    """`PhotoSearch` for a store with product images: trained head + nearest iconic images, combined; a photo far
    from every `reference` photo (the store's own, normalised) is answered with nothing.

    `product_ids[i]` is the catalog id of the head's class i; the iconic index holds one vector per product id.
    """

    def __init__(
        self,
        model: ImageModel,
        head: LinearHead | None,
        iconic: VectorIndex | None,
        product_ids: Sequence[int],
        products: ProductLookup,
        combination: Combination = Combination(),
        reference: FloatArray | None = None,
    ) -> None:
        if head is None and iconic is None:
            raise RetrievalUnavailable(
                "no trained head and no iconic-image index; run `python -m retrieval.vision build`"
            )
        if head is not None and len(head.info.classes) != len(product_ids):
            raise RetrievalUnavailable(
                "the trained head does not fit this catalogue; run `python -m retrieval.vision build`"
            )
        self._model = model
        self._head = head
        self._iconic = iconic
        self._ids = np.asarray(product_ids, dtype=np.int64)
        self._position = {int(pid): n for n, pid in enumerate(self._ids)}
        self._products = products
        self._combination = combination
        self._reference = reference

    def scores(self, embedding: FloatArray) -> FloatArray:
        """Combined log-probabilities over `product_ids` for one embedding."""
        head = self._head.log_proba(embedding) if self._head is not None else None
        iconic = None
        if self._iconic is not None:
            sims, ids = self._iconic.search(normalise(embedding[None]), len(self._ids))
            iconic = np.full((1, len(self._ids)), -1.0, np.float32)
            for sim, pid in zip(sims[0], ids[0], strict=True):
                if int(pid) in self._position:
                    iconic[0, self._position[int(pid)]] = sim
        result: FloatArray = combined_log_proba(head, iconic, self._combination)[0]
        return result

    def search(self, image: Image.Image, k: int = 5) -> PhotoMatch:
        features = self._model.features(image)
        labels = top_labels(features.logits, 5)
        sure = labels[0].name if labels and labels[0].probability >= 0.3 else None
        if (
            self._reference is not None
            and float(nearest_similarity(features.embedding, self._reference)[0]) < self._combination.min_similarity
        ):
            return PhotoMatch(labels, sure, [])
        embedding = features.embedding
        if self._combination.flip_tta:
            mirrored = self._model.features(image, flip=True).embedding
            embedding = ((normalise(embedding) + normalise(mirrored)) / 2).astype(np.float32)
        scores = self.scores(embedding)
        best = np.argsort(-scores)[:k]
        probabilities = np.exp(scores[best])
        if probabilities[0] < self._combination.min_probability:
            return PhotoMatch(labels, sure, [])
        ids = [int(self._ids[i]) for i in best]
        try:
            found = self._products.get_many(ids)
        except CatalogError as exc:
            raise RetrievalUnavailable(f"reading the matched products failed: {exc}") from exc
        hits = [SearchHit(found[i], float(p)) for i, p in zip(ids, probabilities, strict=True) if i in found]
        return PhotoMatch(labels, hits[0].product.title if hits else None, hits)
