"""Hybrid product search: BM25 + MiniLM/FAISS fused by reciprocal rank fusion, with filters applied inside retrieval.

`HybridProductSearch.find(SearchRequest)` → `SearchResult`: the shopper's text is parsed (`retrieval.query`) into
words and filters, the filters (price, category, colour, in stock, exclusions, already-shown SKUs) become a mask over
the catalogue, and BOTH retrievers search only the products that pass it (BM25 through a weight mask, FAISS through an
id selector), so a filtered page is filled whenever enough products match. The two lists are fused by a tuned
weighting (`FusionMethod.WEIGHTED`, the default): LEXICAL_WEIGHT × BM25 score / the query's best BM25 score +
(1 − LEXICAL_WEIGHT) × cosine, plus a second stage of four features neither retriever has on its own (the query's
words as a phrase in the title, its product type, ...: `retrieval.rerank`). LEXICAL_WEIGHT and the feature weights are
fitted on the judged set by coordinate ascent; `bench/search_quality.py --cross-validate` gives the 5-fold held-out
estimate. Plain weighted fusion beat reciprocal rank fusion (`FusionMethod.RRF`, Σ 1 / (RRF_K + rank)), which stays
available. A product that neither retriever finds relevant (no BM25 word match and cosine
below `DENSE_MIN_SCORE`) is not returned, so nonsense queries get no results instead of random ones.
Abstention: a query with no correct answer in the store ("washing machine", "car tyres") still shares a word or two
with some titles and lands near something in embedding space, so the per-product rule above answers most of them.
The hybrid search therefore also looks at the query as a whole and returns nothing when BOTH retrievers are unsure:
no allowed product contains at least `COVERAGE_MIN` of the query's words (idf-weighted, `Bm25Index.coverage`) AND
no product's cosine reaches `DENSE_CONFIDENT`. `bench/search_quality.py --cross-validate` chooses them by 2-fold
cross-validation on the judged set (on each training fold, the most abstention on no-answer queries among the
settings that cost answerable queries ≤ 0.001 NDCG@10; scored on the other fold). Both folds chose COVERAGE_MIN 0.6;
for DENSE_CONFIDENT one chose 0.55 and the other 0.5, and the looser 0.5 is kept because 0.55 cost a real query on
the other fold ("kitchen gadgets"). Held-out-fold estimate: 47-67% of no-answer queries abstained (7% before),
answerable NDCG@10 unchanged to -0.012.
When nothing is left, `SearchResult.empty_reason` names the constraint that emptied the result and how many products
relaxing each constraint would give, so the caller (the chat action) can offer to relax it.

`HybridProductSearch.search(query, k)` keeps the older `ProductSearch` protocol for existing callers.
The search state (catalogue arrays, BM25, FAISS index) is one immutable `SearchSnapshot`; `swap()` replaces it in one
reference assignment, so a query in flight finishes on the snapshot it started with (see `retrieval.service`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt
import Stemmer

from catalog.errors import CatalogError
from catalog.types import Product
from retrieval.encoder import TextEncoder
from retrieval.errors import RetrievalUnavailable
from retrieval.index import VectorIndex
from retrieval.lexical import Bm25Index, lexical_text
from retrieval.query import Filters, ParsedQuery, QueryParser, Vocabulary, content_words
from retrieval.rerank import Candidates, QuerySignals, RerankWeights, candidates, title_pairs
from retrieval.search import SearchHit

RRF_K = 60
LEXICAL_WEIGHT = 0.5
DENSE_MIN_SCORE = 0.35
"""Cosine below which a dense-only match is not returned (all-MiniLM-L6-v2: unrelated texts score ~0-0.3)."""
COVERAGE_MIN = 0.6
"""Share of the query's words (idf-weighted) the best-covered product must contain, unless the dense side is sure."""
DENSE_CONFIDENT = 0.5
"""Cosine at which the dense retriever alone vouches for a query whose words no product covers."""
MIN_POOL = 100
NAMED_MIN_WORDS = 3
"""A query of this many words or more, all in a discontinued product's title, names that product (`sellable_first`)."""


@dataclass(frozen=True)
class HybridTuning:
    """The hybrid search's tuned values in one object (the bench's cross-validation tries others)."""

    lexical_weight: float = LEXICAL_WEIGHT
    dense_min_score: float = DENSE_MIN_SCORE
    coverage_min: float = COVERAGE_MIN
    """0 turns the whole-query abstention off."""
    dense_confident: float = DENSE_CONFIDENT
    rerank: RerankWeights = field(default_factory=RerankWeights)
    """The second stage's feature weights (`retrieval.rerank`); `NO_RERANK` is plain weighted fusion."""

    def __post_init__(self) -> None:
        for name in ("lexical_weight", "coverage_min"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"HybridTuning.{name} has value {value}; expected a number from 0 to 1")
        for name in ("dense_min_score", "dense_confident"):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"HybridTuning.{name} has value {value}; expected a cosine from -1 to 1")


class RetrievalMode(StrEnum):
    HYBRID = "hybrid"
    LEXICAL = "bm25"
    DENSE = "dense"


class FusionMethod(StrEnum):
    WEIGHTED = "weighted"
    RRF = "rrf"


class StockAvailability(Protocol):
    """What the "in stock" filter and `sellable_first` need: `catalog.stock.StockService` is one."""

    def available_skus(self) -> frozenset[str]: ...

    def discontinued_skus(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class SearchRequest:
    text: str
    k: int = 5
    offset: int = 0
    """Hits to skip ("show more" asks for the next page with the same text and filters)."""
    filters: Filters = field(default_factory=Filters)
    """Constraints kept from earlier turns; the text's own constraints are added (its price bounds win)."""
    exclude_skus: frozenset[str] = frozenset()
    mode: RetrievalMode = RetrievalMode.HYBRID
    fusion: FusionMethod = FusionMethod.WEIGHTED
    sellable_first: bool = False
    """Discontinued products after every product still sold, each group in relevance order (the chat asks for it;
    the benchmarks measure relevance alone). Needs connected stock levels; ignored without them."""


@dataclass(frozen=True)
class Constraint:
    field: str
    """The `Filters` field it comes from ("price" for both bounds), or "exclude_skus"."""
    label: str
    mask: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Relaxation:
    field: str
    """Pass it to `Filters.relaxed` (or drop `exclude_skus`) to search without this constraint."""
    label: str
    results: int
    """Relevant products found when only this constraint is dropped."""


@dataclass(frozen=True)
class EmptyReason:
    constraint: str
    """The constraint, in words, that left no product ("colour: purple")."""
    field: str
    """Its `Filters` field: `filters.relaxed(field)` searches without it."""
    relaxations: tuple[Relaxation, ...]
    """What dropping each active constraint alone would give, most results first."""


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    query: ParsedQuery
    filters: Filters
    """Every constraint applied (the request's and the text's)."""
    has_more: bool
    explanation: tuple[str, ...]
    empty_reason: EmptyReason | None = None


@dataclass(frozen=True)
class SearchSnapshot:
    """Everything one query reads; never mutated after construction."""

    products: tuple[Product, ...]
    ids: npt.NDArray[np.int64]
    prices: npt.NDArray[np.float64]
    categories: npt.NDArray[np.str_]
    colours: tuple[frozenset[str], ...]
    title_stems: tuple[frozenset[str], ...]
    title_pairs: tuple[frozenset[tuple[str, str]], ...]
    subcategories: tuple[str, ...]
    skus: npt.NDArray[np.str_]
    bm25: Bm25Index
    vectors: VectorIndex
    parser: QueryParser
    position: dict[int, int]

    @classmethod
    def build(cls, products: Sequence[Product], vectors: VectorIndex, bm25: Bm25Index | None = None) -> SearchSnapshot:
        """A snapshot over `products`; BM25 is rebuilt in memory when the given one covers other products."""
        items = tuple(products)
        ids = np.array([p.id for p in items], dtype=np.int64)
        if bm25 is None or not np.array_equal(bm25.ids, ids):
            bm25 = Bm25Index.build(items)
        stemmer = Stemmer.Stemmer("english")
        stems = [stemmer.stemWords(content_words(p.title)) for p in items]
        return cls(
            products=items,
            ids=ids,
            prices=np.array([float(p.price) for p in items], dtype=np.float64),
            categories=np.array([p.category or "" for p in items], dtype=np.str_),
            colours=tuple(frozenset(p.colours) for p in items),
            title_stems=tuple(frozenset(s) for s in stems),
            title_pairs=tuple(title_pairs(s) for s in stems),
            subcategories=tuple(p.subcategory or "" for p in items),
            skus=np.array([p.sku for p in items], dtype=np.str_),
            bm25=bm25,
            vectors=vectors,
            parser=QueryParser(Vocabulary(lexical_text(p) for p in items)),
            position={int(i): n for n, i in enumerate(ids)},
        )


class HybridProductSearch:
    """`ProductSearch` and `find(SearchRequest)` over a `SearchSnapshot`, a query encoder and (optionally) stock."""

    def __init__(
        self,
        snapshot: SearchSnapshot,
        encoder: TextEncoder,
        stock: StockAvailability | None = None,
        tuning: HybridTuning | None = None,
    ) -> None:
        if encoder.dim != snapshot.vectors.dim:
            raise RetrievalUnavailable(
                f"the index holds {snapshot.vectors.dim}-dimensional vectors but {encoder.name} makes {encoder.dim}; "
                "run `make build`"
            )
        self._snapshot = snapshot
        self._encoder = encoder
        self._stock = stock
        self._stemmer = threading.local()
        self.tuning = tuning or HybridTuning()

    @property
    def snapshot(self) -> SearchSnapshot:
        return self._snapshot

    def swap(self, snapshot: SearchSnapshot) -> None:
        """Serve `snapshot` from the next query on (queries in flight finish on the old one)."""
        if snapshot.vectors.dim != self._encoder.dim:
            raise RetrievalUnavailable("the new index has another dimension than the encoder; not swapped")
        self._snapshot = snapshot

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """The `ProductSearch` protocol: hybrid search with the text's own constraints."""
        if k < 1:
            raise ValueError(f"k has value {k}; expected a positive integer")
        return self.find(SearchRequest(text=query, k=k)).hits

    def parse(self, text: str, base: Filters | None = None) -> ParsedQuery:
        return self._snapshot.parser.parse(text, base)

    def find(self, request: SearchRequest) -> SearchResult:
        """Raises InvalidQuery (nothing to search), ContradictoryFilters, RetrievalUnavailable."""
        if request.k < 1 or request.offset < 0:
            raise ValueError(f"k={request.k}, offset={request.offset}; expected k ≥ 1 and offset ≥ 0")
        snap = self._snapshot
        parsed, masks, allowed = self._constrained(snap, request)
        filters = parsed.filters
        explanation = [f"searched for: {parsed.text}" if parsed.text else "no words to search: browsing by price"]
        explanation += [f"{wrote} → {fixed}" for wrote, fixed in parsed.corrections]
        explanation += [f"filter: {d}" for d in filters.describe()] + list(parsed.notes)
        need = request.offset + request.k
        ranked = self._rank(snap, parsed.text, allowed, need, request.mode, request.fusion, _compounds(parsed))
        if request.sellable_first:
            ranked = self._sellable_first(snap, ranked, parsed.text)
        hits = [
            SearchHit(snap.products[pos], score) for pos, score in ranked[request.offset : request.offset + request.k]
        ]
        empty = None
        if not ranked and masks:
            empty = self._why_empty(snap, parsed, masks, request.mode)
        return SearchResult(
            hits=hits,
            query=parsed,
            filters=filters,
            has_more=len(ranked) > need,
            explanation=tuple(explanation),
            empty_reason=empty,
        )

    def _sellable_first(
        self, snap: SearchSnapshot, ranked: list[tuple[int, float]], text: str
    ) -> list[tuple[int, float]]:
        """Discontinued products moved after the rest, except one whose title holds every word of a query of at
        least NAMED_MIN_WORDS words: the shopper named it, and learns it is no longer sold (with alternatives)."""
        if self._stock is None or not ranked:
            return ranked
        try:
            gone = self._stock.discontinued_skus()
        except CatalogError as exc:
            raise RetrievalUnavailable(f"reading which products are discontinued failed: {exc}") from exc
        if not gone:
            return ranked
        named = frozenset(self._stem(content_words(text)))

        def last(pos: int) -> bool:
            if str(snap.skus[pos]) not in gone:
                return False
            return len(named) < NAMED_MIN_WORDS or not named <= snap.title_stems[pos]

        return [r for r in ranked if not last(r[0])] + [r for r in ranked if last(r[0])]

    # --- filters ---------------------------------------------------------------------------------------------------

    def _constrained(
        self, snap: SearchSnapshot, request: SearchRequest
    ) -> tuple[ParsedQuery, list[Constraint], npt.NDArray[np.bool_]]:
        """The parsed request, its active constraints, and the products passing all of them."""
        parsed = snap.parser.parse(request.text, request.filters)
        masks = self._masks(snap, parsed.filters, request.exclude_skus)
        allowed = np.logical_and.reduce([c.mask for c in masks]) if masks else np.ones(len(snap.ids), dtype=bool)
        return parsed, masks, allowed

    # --- one mask per constraint -----------------------------------------------------------------------------------

    def _masks(self, snap: SearchSnapshot, filters: Filters, exclude_skus: frozenset[str]) -> list[Constraint]:
        """Each active constraint with the products passing it."""
        out: list[Constraint] = []
        n = len(snap.ids)

        def add(field: str, label: str, mask: npt.NDArray[np.bool_]) -> None:
            out.append(Constraint(field, label, mask))

        if filters.price_min is not None or filters.price_max is not None:
            mask = np.ones(n, dtype=bool)
            if filters.price_min is not None:
                mask &= snap.prices >= float(filters.price_min) - 1e-9
            if filters.price_max is not None:
                mask &= snap.prices <= float(filters.price_max) + 1e-9
            add("price", Filters(price_min=filters.price_min, price_max=filters.price_max).describe()[0], mask)
        if filters.categories:
            label = Filters(categories=filters.categories).describe()[0]
            add("categories", label, np.isin(snap.categories, list(filters.categories)))
        if filters.colours:
            mask = np.array([bool(c & filters.colours) for c in snap.colours], dtype=bool)
            add("colours", Filters(colours=filters.colours).describe()[0], mask)
        if filters.in_stock:
            if self._stock is None:
                raise RetrievalUnavailable("the in-stock filter needs stock levels, and none are connected")
            try:
                available = self._stock.available_skus()
            except CatalogError as exc:
                raise RetrievalUnavailable(f"reading stock for the in-stock filter failed: {exc}") from exc
            add("in_stock", "in stock", np.isin(snap.skus, list(available)))
        if filters.exclude_categories:
            label = Filters(exclude_categories=filters.exclude_categories).describe()[0]
            add("exclude_categories", label, ~np.isin(snap.categories, list(filters.exclude_categories)))
        if filters.exclude_colours:
            mask = np.array([not (c & filters.exclude_colours) for c in snap.colours], dtype=bool)
            add("exclude_colours", Filters(exclude_colours=filters.exclude_colours).describe()[0], mask)
        if filters.exclude_terms:
            stems = frozenset(Stemmer.Stemmer("english").stemWords(sorted(filters.exclude_terms)))
            mask = np.array([not (t & stems) for t in snap.title_stems], dtype=bool)
            add("exclude_terms", Filters(exclude_terms=filters.exclude_terms).describe()[0], mask)
        if exclude_skus:
            add("exclude_skus", "not shown before", ~np.isin(snap.skus, list(exclude_skus)))
        return out

    def _why_empty(
        self, snap: SearchSnapshot, parsed: ParsedQuery, masks: list[Constraint], mode: RetrievalMode
    ) -> EmptyReason | None:
        """The constraint that emptied the result: the first one after which nothing relevant is left."""
        relevant = np.zeros(len(snap.ids), dtype=bool)
        everything = np.ones(len(snap.ids), dtype=bool)
        found = self._rank(snap, parsed.text, everything, min(len(snap.ids), 1000), mode, compounds=_compounds(parsed))
        relevant[[pos for pos, _ in found]] = True
        if not relevant.any():
            return None  # the words match nothing, filters or not
        culprit = masks[-1]
        current = relevant.copy()
        for constraint in masks:
            current &= constraint.mask
            if not current.any():
                culprit = constraint
                break
        relaxations = []
        for constraint in masks:
            others = [c.mask for c in masks if c is not constraint]
            rest = np.logical_and.reduce(others) if others else np.ones(len(snap.ids), dtype=bool)
            relaxations.append(Relaxation(constraint.field, constraint.label, int((relevant & rest).sum())))
        relaxations.sort(key=lambda r: -r.results)
        return EmptyReason(constraint=culprit.label, field=culprit.field, relaxations=tuple(relaxations))

    # --- ranking ---------------------------------------------------------------------------------------------------

    def _rank(
        self,
        snap: SearchSnapshot,
        text: str,
        allowed: npt.NDArray[np.bool_],
        need: int,
        mode: RetrievalMode,
        fusion: FusionMethod = FusionMethod.WEIGHTED,
        compounds: dict[str, str] | None = None,
    ) -> list[tuple[int, float]]:
        """(position, score) of relevant allowed products, best first; at least `need` when that many exist.

        `compounds` maps a joined word the parser added to the two words it joins ("doormat" → "door mat"), so the
        whole-query abstention counts "DOORMAT" as containing both.
        """
        if not allowed.any():
            return []
        if not content_words(text):
            order = np.flatnonzero(allowed)
            order = order[np.argsort(snap.prices[order], kind="stable")]
            return [(int(p), 0.0) for p in order]
        retrieved = self._retrieve(snap, text, allowed, need, mode, compounds or {})
        if retrieved is None:
            return []
        lexical, dense = retrieved
        if mode is RetrievalMode.HYBRID and fusion is FusionMethod.WEIGHTED:
            found = self._candidates(snap, text, lexical, dense)
            return found.scored(self.tuning.lexical_weight, self.tuning.rerank)
        return fuse(lexical, dense, mode)

    def candidates(self, request: SearchRequest) -> Candidates | None:
        """The hybrid's candidates for `request` with their features, before scoring (`bench/search_quality.py` tunes
        the weights on them); None when the hybrid abstains or the text has no words to search."""
        snap = self._snapshot
        parsed, _, allowed = self._constrained(snap, request)
        if not allowed.any() or not content_words(parsed.text):
            return None
        need = request.offset + request.k
        retrieved = self._retrieve(snap, parsed.text, allowed, need, RetrievalMode.HYBRID, _compounds(parsed))
        return None if retrieved is None else self._candidates(snap, parsed.text, *retrieved)

    def _retrieve(
        self,
        snap: SearchSnapshot,
        text: str,
        allowed: npt.NDArray[np.bool_],
        need: int,
        mode: RetrievalMode,
        compounds: dict[str, str],
    ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]] | None:
        """BM25's and the dense retriever's (position, score) lists, best first, together holding at least `need`
        products when that many are relevant; None when the hybrid abstains (module doc)."""
        tuning = self.tuning
        n_allowed = int(allowed.sum())
        pool = max(MIN_POOL, need * 4)
        lexical = self._lexical(snap, text, allowed) if mode is not RetrievalMode.DENSE else []
        vector: npt.NDArray[np.float32] | None = None
        while True:
            dense: list[tuple[int, float]] = []
            if mode is not RetrievalMode.LEXICAL:
                if vector is None:
                    vector = self._encoder.encode([text])
                allowed_ids = snap.ids[allowed] if n_allowed < len(snap.ids) else None
                scores, ids = snap.vectors.search(vector, min(pool, n_allowed), allowed=allowed_ids)
                dense = [
                    (snap.position[int(i)], float(s))
                    for i, s in zip(ids[0], scores[0], strict=True)
                    if int(i) in snap.position and s >= tuning.dense_min_score
                ]
            if (
                mode is RetrievalMode.HYBRID
                and tuning.coverage_min > 0
                and not self._confident(snap, text, allowed, dense, compounds)
            ):
                return None
            truncated = len(dense) >= pool and pool < n_allowed
            if not truncated or len({p for p, _ in lexical} | {p for p, _ in dense}) >= need:
                return lexical, dense
            pool *= 4

    def _stem(self, words: list[str]) -> list[str]:
        stemmer = getattr(self._stemmer, "value", None)
        if stemmer is None:  # PyStemmer objects are not shared between threads
            stemmer = self._stemmer.value = Stemmer.Stemmer("english")
        return [str(w) for w in stemmer.stemWords(words)]

    def _candidates(
        self, snap: SearchSnapshot, text: str, lexical: list[tuple[int, float]], dense: list[tuple[int, float]]
    ) -> Candidates:
        signals = QuerySignals.of(text, self._stem(content_words(text)))
        return candidates(
            lexical, dense, signals, snap.title_stems, snap.title_pairs, snap.subcategories, snap.categories.tolist()
        )

    def _confident(
        self,
        snap: SearchSnapshot,
        text: str,
        allowed: npt.NDArray[np.bool_],
        dense: list[tuple[int, float]],
        compounds: dict[str, str],
    ) -> bool:
        """Whether the store plausibly has what the query asks for (module doc: abstention)."""
        if dense and dense[0][1] >= self.tuning.dense_confident:
            return True
        return snap.bm25.coverage(query_groups(text, compounds), allowed) >= self.tuning.coverage_min

    @staticmethod
    def _lexical(snap: SearchSnapshot, text: str, allowed: npt.NDArray[np.bool_]) -> list[tuple[int, float]]:
        scores = snap.bm25.scores(text, allowed)
        hit = np.flatnonzero(scores > 0)
        order = hit[np.argsort(-scores[hit], kind="stable")]
        return [(int(p), float(scores[p])) for p in order]


def _compounds(parsed: ParsedQuery) -> dict[str, str]:
    """Joined words the parser added ("door mat" → "doormat"), each with the two words it stands for."""
    return {fixed: wrote for wrote, fixed in parsed.corrections if " " in wrote and " " not in fixed}


def query_groups(text: str, compounds: dict[str, str] | None = None) -> list[list[str]]:
    """The query's content words as coverage groups: each word with the joined words that contain it."""
    compounds = compounds or {}
    words = [w for w in content_words(text) if w not in compounds]
    groups = {w: [w] for w in words}
    for joined, parts in compounds.items():
        for part in parts.split():
            if part in groups:
                groups[part].append(joined)
    return list(groups.values())


def fuse(
    lexical: list[tuple[int, float]], dense: list[tuple[int, float]], mode: RetrievalMode
) -> list[tuple[int, float]]:
    """One ranked list of (position, score) from BM25's and the dense retriever's, each best first: one of them for
    a single-retriever mode, reciprocal rank fusion for HYBRID (weighted fusion is `retrieval.rerank.Candidates`)."""
    if mode is RetrievalMode.LEXICAL:
        return lexical
    if mode is RetrievalMode.DENSE:
        return dense
    fused: dict[int, float] = {}
    for ranked in (lexical, dense):
        for rank, (pos, _) in enumerate(ranked):
            fused[pos] = fused.get(pos, 0.0) + 1.0 / (RRF_K + rank + 1)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
