"""Opening the hybrid search from the built artifacts, and swapping in a rebuilt index while serving.

`open_hybrid_search(index_path, products, ...)` loads the FAISS index, the current BM25 folder and the catalogue's
products into one `SearchSnapshot`. `refresh(search, index_path, products)` loads a rebuilt index (when the saved
fingerprint differs from the served one) and swaps it in: index files are replaced by atomic renames, so a loader
sees either the old or the new file, never half of one, and queries in flight finish on the snapshot they started on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from catalog.types import Product
from retrieval.build import bm25_dir
from retrieval.encoder import TextEncoder
from retrieval.errors import IndexNotBuilt, RetrievalUnavailable
from retrieval.hybrid import HybridProductSearch, HybridTuning, SearchSnapshot, StockAvailability
from retrieval.index import VectorIndex, read_meta
from retrieval.lexical import Bm25Index


def load_snapshot(index_path: Path, products: Sequence[Product], encoder: TextEncoder) -> SearchSnapshot:
    vectors = VectorIndex.load(index_path, expected_dim=encoder.dim, expected_model=encoder.name)
    try:
        bm25: Bm25Index | None = Bm25Index.load(bm25_dir(index_path))
    except (IndexNotBuilt, RetrievalUnavailable):
        bm25 = None  # built in memory from the products (well under a second for the reference store)
    return SearchSnapshot.build(products, vectors, bm25)


def open_hybrid_search(
    index_path: Path,
    products: Sequence[Product],
    query_encoder: TextEncoder,
    stock: StockAvailability | None = None,
    tuning: HybridTuning | None = None,
) -> HybridProductSearch:
    """The hybrid search over the saved indexes; fails fast with the fix when they are missing or do not match."""
    return HybridProductSearch(load_snapshot(index_path, products, query_encoder), query_encoder, stock, tuning)


def refresh(search: HybridProductSearch, index_path: Path, products: Sequence[Product], encoder: TextEncoder) -> bool:
    """Swap in the index saved at `index_path` when it is not the one served; True when swapped."""
    meta = read_meta(index_path)
    served = search.snapshot.vectors.meta
    if meta is None or (served is not None and served.fingerprint == meta.fingerprint and served.count == meta.count):
        return False
    search.swap(load_snapshot(index_path, products, encoder))
    return True
