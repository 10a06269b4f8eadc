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

    def coverage(self, groups: Sequence[Sequence[str]], mask: npt.NDArray[np.bool_] | None = None) -> float:
        """The largest share of the query a single document contains: Σ idf of the groups it matches / Σ idf of all.

        A group is one query word and the alternatives that stand for it (["door", "doormat"]); it is matched when
        the document contains any of them, and weighs the BM25 idf of its first word (a word no document contains
        weighs the most: a shopper word the store never uses is evidence the store lacks the thing). 0.0 when no
        allowed document matches; 1.0 for no groups (nothing to cover).
        """
        weighted = [(self.tokens(" ".join(group)), self.tokens(group[0])) for group in groups if group]
        weighted = [(tokens, head) for tokens, head in weighted if head]
        if not weighted:
            return 1.0
        scores = self._model.scores
        indptr, indices, n = scores["indptr"], scores["indices"], len(self)
        matched_weight = np.zeros(n, dtype=np.float64)
        total = 0.0
        for tokens, head in weighted:
            weight = self._idf(head[0])
            total += weight
            hit = np.zeros(n, dtype=bool)
            for token in tokens:
                column = self._vocab.get(token)
                if column is not None:
                    hit[indices[indptr[column] : indptr[column + 1]]] = True
            matched_weight += weight * hit
        if mask is not None:
            matched_weight[~mask] = 0.0
        return float(matched_weight.max() / total) if total > 0 else 1.0

    def _idf(self, token: str) -> float:
        """BM25's idf: ln(1 + (N − df + 0.5) / (df + 0.5)), df = documents containing the token (0 if unknown)."""
        column = self._vocab.get(token)
        indptr = self._model.scores["indptr"]
        df = 0 if column is None else int(indptr[column + 1] - indptr[column])
        return float(np.log1p((len(self) - df + 0.5) / (df + 0.5)))

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
