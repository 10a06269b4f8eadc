"""Lexical retrieval: BM25 (the `bm25s` library) over each product's title and attribute names, Snowball-stemmed.

The text indexed for a product is its title plus its category label, subcategory, colours and patterns, so "kitchen"
or "jewellery" finds products whose titles never say it. Stemming makes plurals and word forms meet ("bags" ~ "BAG").
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

from catalog.attributes import CATEGORY_LABELS, Category
from catalog.types import Product
from retrieval.errors import IndexNotBuilt, RetrievalUnavailable

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "of", "for", "with", "in", "on", "to", "set", "pack", "s", "w"]
)  # "set of 3" and "pack of 12" are in hundreds of titles and say nothing about the product


def lexical_text(product: Product) -> str:
    """What BM25 indexes for a product: title, category label, subcategory, colours, patterns."""
    parts = [product.title]
    if product.category:
        parts += [CATEGORY_LABELS.get(Category(product.category), product.category), product.subcategory or ""]
    parts += [*product.colours, *product.patterns]
    return " ".join(" ".join(parts).split()).lower()


class Bm25Index:
    """BM25 scores of every product for a query; `ids[i]` is the product id of document i."""

    def __init__(self, model: bm25s.BM25, ids: npt.NDArray[np.int64]) -> None:
        self._model = model
        self.ids = ids
        self._stemmer = Stemmer.Stemmer("english")
        self._vocab: dict[str, int] = dict(model.vocab_dict)

    def tokens(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
        return [str(t) for t in self._stemmer.stemWords(words)]

    @classmethod
    def build(cls, products: Sequence[Product]) -> Bm25Index:
        stemmer = Stemmer.Stemmer("english")
        corpus = []
        for p in products:
            words = [w for w in _WORD.findall(lexical_text(p)) if w not in STOPWORDS]
            corpus.append([str(t) for t in stemmer.stemWords(words)] or ["__empty__"])
        model = bm25s.BM25()
        model.index(corpus, show_progress=False)
        return cls(model, np.array([p.id for p in products], dtype=np.int64))

    def __len__(self) -> int:
        return int(self.ids.size)

    def scores(self, text: str, mask: npt.NDArray[np.bool_] | None = None) -> npt.NDArray[np.float32]:
        """BM25 score of every document (0 for documents outside `mask` or without a query word)."""
        tokens = [t for t in self.tokens(text) if t in self._vocab]
        if not tokens:
            return np.zeros(len(self), dtype=np.float32)
        weight = None if mask is None else mask.astype(np.float32)
        return np.asarray(self._model.get_scores(tokens, weight_mask=weight), dtype=np.float32)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._model.save(str(folder), show_progress=False)
        np.save(folder / "ids.npy", self.ids)

    @classmethod
    def load(cls, folder: Path) -> Bm25Index:
        if not (folder / "ids.npy").is_file():
            raise IndexNotBuilt(folder)
        try:
            model = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
            ids = np.load(folder / "ids.npy")
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            raise RetrievalUnavailable(f"cannot read the BM25 index {folder}: {exc}; run `make build`") from exc
        return cls(model, ids.astype(np.int64))
