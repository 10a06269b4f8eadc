"""The action server's services, built once per process on first use (never at import: rasa-sdk imports every
module of this package at start-up, and loading the embedding model there would delay every action).

Each builder raises `catalog.errors.CatalogError` or `retrieval.errors.RetrievalError` (with the fix) when an artifact
is missing; a later call tries again, so a `make build` run while the server is up is picked up without a restart.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from assistant.settings import Settings, Store, load_settings
from catalog import inventory
from catalog.db import make_engine, require_built
from catalog.errors import CatalogError
from catalog.repository import SqlProductRepository
from catalog.shop import ShopService
from catalog.stock import StockLookup, StockService, StockStatus
from recsys.service import RecommendationService
from retrieval.hybrid import HybridProductSearch
from retrieval.onnx_encoder import OnnxMiniLMEncoder
from retrieval.service import open_hybrid_search
from retrieval.vision.photo_search import PhotoSearch
from retrieval.vision.uploads import UploadStore

logger = logging.getLogger(__name__)
_lock = threading.RLock()
_engine: Engine | None = None
_product_search: HybridProductSearch | None = None
_recommendations: RecommendationService | None = None
_photo_search: PhotoSearch | None = None


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


def card_stock(skus: Sequence[str]) -> dict[str, StockStatus]:
    """Stock statuses for product cards' badges; empty (cards without badges) when stock can't be read, because a
    missing badge must never cost the shopper the answer."""
    try:
        return StockService(engine()).statuses(list(skus))
    except (CatalogError, SQLAlchemyError) as exc:
        logger.warning("no stock badges: %s", exc)
        return {}


def products() -> SqlProductRepository:
    return SqlProductRepository(engine())


def stock() -> StockLookup:
    return StockService(engine())


def product_search() -> HybridProductSearch:
    """The process-wide product search (BM25 + MiniLM/FAISS with filters, `retrieval.hybrid`) over the catalog's
    products and stock, loaded on first call. Queries are encoded by the int8 ONNX MiniLM: same quality as torch,
    about 3x faster on one thread (`make bench-search-speed`)."""
    global _product_search
    with _lock:
        if _product_search is None:
            catalog, stock_levels = list(products().iter_all()), StockService(engine())
            _product_search = open_hybrid_search(settings().index_path, catalog, OnnxMiniLMEncoder(), stock_levels)
        return _product_search


def shop() -> ShopService:
    """Baskets, orders, returns and handoffs in the catalog database."""
    return ShopService(engine(), today=store_today)


AVAILABILITY_TTL_S = 30.0
"""How long the set of orderable products is reused by the recommender's stock filter before it is read again."""


class Availability:
    """`in_stock(product_id)` for the recommender: one stock query per `ttl_s` (not one per candidate product)."""

    def __init__(self, ttl_s: float = AVAILABILITY_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._ids: frozenset[int] = frozenset()
        self._read_at = -math.inf
        self._lock = threading.Lock()

    def __call__(self, product_id: int) -> bool:
        with self._lock:
            if time.monotonic() - self._read_at > self._ttl_s:
                skus = StockService(engine()).available_skus()
                self._ids = frozenset(p.id for p in products().iter_all() if p.sku in skus)
                self._read_at = time.monotonic()
            return product_id in self._ids


def recommendations() -> RecommendationService:
    """The recommender artifact (`python -m recsys build`), loaded on first call; out-of-stock products are left out."""
    global _recommendations
    with _lock:
        if _recommendations is None:
            _recommendations = RecommendationService.load(settings().state_dir / "recsys", in_stock=Availability())
        return _recommendations


def store_today() -> date:
    """The store's current day (the simulated reference store is frozen on the day its data end)."""
    return inventory.store_today(engine())


def photo_search() -> PhotoSearch:
    """The active store's photo search (image model + label phrases, or the trained matcher), loaded on first call."""
    global _photo_search
    with _lock:
        if _photo_search is None:
            from retrieval.vision.service import build_photo_search  # imports onnxruntime: only when first needed

            current = settings()
            text = product_search() if current.store is Store.ONLINE_RETAIL else None
            _photo_search = build_photo_search(current, products(), text)
        return _photo_search


def uploads() -> UploadStore:
    """Shoppers' uploaded photos (written by the gateway, read here by id and sender)."""
    return UploadStore(settings().uploads_dir)
