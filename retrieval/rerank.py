"""Second stage of the hybrid search: the fused candidates re-scored with what neither retriever sees on its own.

BM25 scores words one at a time and the dense retriever compares whole texts, so neither knows that a title holds
the query's words *next to each other* ("HANGING HEART T-LIGHT HOLDER" for "hanging heart t-light holder", not
"HEART ... HANGING ... HOLDER"), nor whether the product is the kind of thing the query names. Each fused candidate
gets four features, all from 0 to 1:

- `title_coverage`: the share of the query's words (stemmed) that its title contains;
- `phrase`: the share of the query's adjacent word pairs that stand next to each other in the title (either order);
- `subcategory`: 1 when the product's subcategory is the one `catalog.attributes` gives the query text itself
  ("lunch bag" → bags, "cupcake cases" → tableware), 0 otherwise or when the query names no product type;
- `dense_category`: the share of the dense retriever's 20 nearest products that are in the product's category (what
  kind of thing the query is about, as the embedding sees it, for vague queries that name no product type).

score = lexical_weight × BM25 / best BM25 + (1 − lexical_weight) × cosine + Σ weight × feature. The weights
(`RerankWeights`) and LEXICAL_WEIGHT are what coordinate ascent fits on all judged queries
(`bench/search_quality.py --cross-validate`, which also prints the 5-fold held-out estimate that the README quotes and
the weights each fold chose: phrase 0.3 and dense_category 0.2 in 5 and 4 folds of 5, title_coverage 0.2 in 4,
LEXICAL_WEIGHT 0.5 in 4, subcategory 0.2 in 3).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from catalog.attributes import Category, derive_attributes

DENSE_CATEGORY_NEIGHBOURS = 20


@dataclass(frozen=True)
class RerankWeights:
    title_coverage: float = 0.2
    phrase: float = 0.3
    subcategory: float = 0.2
    dense_category: float = 0.2

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"RerankWeights.{f.name} has value {value}; expected a number from 0 to 1")

    def vector(self) -> npt.NDArray[np.float64]:
        return np.array([getattr(self, f.name) for f in fields(self)], dtype=np.float64)


NO_RERANK = RerankWeights(0.0, 0.0, 0.0, 0.0)
"""Plain weighted fusion (the bench's "fusion only" row)."""


@dataclass(frozen=True)
class QuerySignals:
    """What the features need from the query, computed once per query."""

    stems: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    subcategory: str | None

    @classmethod
    def of(cls, text: str, stems: Sequence[str]) -> QuerySignals:
        """`stems`: the query's content words, stemmed like `title_pairs`, in the order written."""
        attributes = derive_attributes(text)
        subcategory = attributes.subcategory if attributes.category is not Category.OTHER else None
        return cls(frozenset(stems), frozenset(itertools.pairwise(stems)), subcategory)


def title_pairs(stems: Sequence[str]) -> frozenset[tuple[str, str]]:
    """The adjacent word pairs of a title (stemmed content words), in both orders."""
    pairs = list(itertools.pairwise(stems))
    return frozenset(pairs + [(b, a) for a, b in pairs])


@dataclass(frozen=True)
class Candidates:
    """The fused candidates of one query: positions in the snapshot, both retrievers' scores and the features."""

    positions: npt.NDArray[np.int64]
    lexical: npt.NDArray[np.float64]
    """BM25 score / the query's best BM25 score (0 when no query word is in the product's text)."""
    dense: npt.NDArray[np.float64]
    """Cosine, 0 for a product the dense retriever did not return (below its minimum score or outside its pool)."""
    features: npt.NDArray[np.float64]
    """(len(positions), 4): title_coverage, phrase, subcategory, dense_category."""

    def scored(self, lexical_weight: float, weights: RerankWeights) -> list[tuple[int, float]]:
        """(position, score) best first; ties by position, so the order is deterministic."""
        score = lexical_weight * self.lexical + (1 - lexical_weight) * self.dense + self.features @ weights.vector()
        order = np.lexsort((self.positions, -score))
        return [(int(self.positions[i]), float(score[i])) for i in order]


def candidates(
    lexical: Sequence[tuple[int, float]],
    dense: Sequence[tuple[int, float]],
    signals: QuerySignals,
    title_stems: Sequence[frozenset[str]],
    pairs: Sequence[frozenset[tuple[str, str]]],
    subcategories: Sequence[str],
    categories: Sequence[str],
) -> Candidates:
    """Every product either retriever returned (each list best first), with its features."""
    lexical_score = dict(lexical)
    dense_score = dict(dense)
    positions = np.array(sorted(lexical_score.keys() | dense_score.keys()), dtype=np.int64)
    top = lexical[0][1] if lexical and lexical[0][1] > 0 else 1.0
    near = Counter(categories[pos] for pos, _ in dense[:DENSE_CATEGORY_NEIGHBOURS])
    n_near = max(1, min(len(dense), DENSE_CATEGORY_NEIGHBOURS))
    n_stems, n_pairs = len(signals.stems), len(signals.pairs)
    features = np.zeros((len(positions), 4), dtype=np.float64)
    for row, pos in enumerate(positions.tolist()):
        if n_stems:
            features[row, 0] = len(signals.stems & title_stems[pos]) / n_stems
        if n_pairs:
            features[row, 1] = len(signals.pairs & pairs[pos]) / n_pairs
        features[row, 2] = signals.subcategory is not None and subcategories[pos] == signals.subcategory
        features[row, 3] = near.get(categories[pos], 0) / n_near
    return Candidates(
        positions=positions,
        lexical=np.array([lexical_score.get(p, 0.0) / top for p in positions.tolist()], dtype=np.float64),
        dense=np.array([dense_score.get(p, 0.0) for p in positions.tolist()], dtype=np.float64),
        features=features,
    )
