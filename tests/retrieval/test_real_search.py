"""The hybrid search on the real reference store, with the real model (slow: needs `make build`)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.settings import load_settings
from catalog.db import make_engine
from catalog.repository import SqlProductRepository
from catalog.stock import StockService
from retrieval.encoder import MiniLMEncoder
from retrieval.hybrid import HybridProductSearch, SearchRequest
from retrieval.onnx_encoder import OnnxMiniLMEncoder
from retrieval.service import open_hybrid_search

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def search() -> HybridProductSearch:
    settings = load_settings()
    engine = make_engine(settings.database_url)
    products = list(SqlProductRepository(engine).iter_all())
    return open_hybrid_search(settings.index_path, products, OnnxMiniLMEncoder(), StockService(engine))


def test_typos_and_compounds_find_the_lunch_bag(search: HybridProductSearch) -> None:
    hits = search.find(SearchRequest("red retrosopt lunchbag under 5 quid", k=5)).hits
    assert hits[0].product.title == "LUNCH BAG RED RETROSPOT"
    assert all(h.product.price <= 5 and "red" in h.product.colours for h in hits)


def test_in_stock_filter_reads_real_stock(search: HybridProductSearch, minilm: MiniLMEncoder) -> None:
    settings = load_settings()
    available = StockService(make_engine(settings.database_url)).available_skus()
    hits = search.find(SearchRequest("christmas decorations in stock", k=10)).hits
    assert hits and all(h.product.sku in available for h in hits)


def test_a_filter_that_empties_the_page_is_named(search: HybridProductSearch) -> None:
    result = search.find(SearchRequest("purple doormat under £1"))
    assert result.hits == [] and result.empty_reason is not None


def test_onnx_query_vectors_match_torch(minilm: MiniLMEncoder) -> None:
    texts = ["red retrospot lunch bag", "gifts for a gardener", "christmas decorations under £1"]
    cos = (OnnxMiniLMEncoder().encode(texts) * minilm.encode(texts)).sum(axis=1)
    assert np.all(cos > 0.99)
