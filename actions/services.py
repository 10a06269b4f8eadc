"""The action server's services, built once per process on first use (never at import: rasa-sdk imports every
module of this package at start-up, and loading the embedding model there would delay every action)."""

from __future__ import annotations

import threading

from assistant.settings import Settings, load_settings
from catalog.db import make_engine, require_built
from catalog.repository import SqlProductRepository
from retrieval.encoder import MiniLMEncoder
from retrieval.search import FaissProductSearch, ProductSearch

_lock = threading.Lock()
_product_search: ProductSearch | None = None


def settings() -> Settings:
    return load_settings()


def product_search() -> ProductSearch:
    """The process-wide product search: catalog DB + FAISS index + MiniLM encoder, loaded on first call.

    Raises `catalog.errors.CatalogError` or `retrieval.errors.RetrievalError` (with the fix) when an artifact is
    missing; a later call tries again, so a `make build` run while the server is up is picked up without a restart.
    """
    global _product_search
    with _lock:
        if _product_search is None:
            config = settings()
            engine = make_engine(config.database_url)
            require_built(engine)
            _product_search = FaissProductSearch.from_file(
                config.index_path, MiniLMEncoder(), SqlProductRepository(engine)
            )
        return _product_search
