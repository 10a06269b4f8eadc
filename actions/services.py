"""The action server's services, built once per process on first use (never at import: rasa-sdk imports every
module of this package at start-up, and loading the embedding model there would delay every action).

Each builder raises `catalog.errors.CatalogError` or `retrieval.errors.RetrievalError` (with the fix) when an artifact
is missing; a later call tries again, so a `make build` run while the server is up is picked up without a restart.
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from assistant.settings import Settings, load_settings
from catalog.db import make_engine, require_built
from catalog.repository import SqlProductRepository
from catalog.stock import StockLookup, StockService
from retrieval.encoder import MiniLMEncoder
from retrieval.search import FaissProductSearch, ProductSearch

_lock = threading.RLock()
_engine: Engine | None = None
_product_search: ProductSearch | None = None


def settings() -> Settings:
    return load_settings()


def engine() -> Engine:
    """The catalog database, checked to be built."""
    global _engine
    with _lock:
        if _engine is None:
            candidate = make_engine(settings().database_url)
            require_built(candidate)
            _engine = candidate
        return _engine


def products() -> SqlProductRepository:
    return SqlProductRepository(engine())


def stock() -> StockLookup:
    return StockService(engine())


def product_search() -> ProductSearch:
    """The process-wide product search: catalog DB + FAISS index + MiniLM encoder, loaded on first call."""
    global _product_search
    with _lock:
        if _product_search is None:
            _product_search = FaissProductSearch.from_file(settings().index_path, MiniLMEncoder(), products())
        return _product_search
