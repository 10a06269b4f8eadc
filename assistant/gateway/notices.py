"""Messages the shop sends without being asked: "X is back in stock" for a shopper who asked to be told.

The web chat gets them on the shopper's next visit or live: every `/api/chat` answer starts with the sender's due
notices, and the chat page asks `GET /api/notices?sender_id=...` when it opens and every 30 seconds. A notice is
marked sent in the catalog DB once handed out, so it arrives exactly once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from assistant.gateway.messages import ChatItem
from catalog import inventory
from catalog.db import make_engine
from catalog.errors import CatalogError
from catalog.repository import SqlProductRepository

logger = logging.getLogger(__name__)

WEB_CHANNEL = "rest"


class RestockNotices:
    """Due back-in-stock messages of one shopper of the web chat (blocking: call from a thread)."""

    def __init__(self, engine: Engine | Callable[[], Engine]) -> None:
        self._engine_or_factory = engine
        self._engine: Engine | None = engine if isinstance(engine, Engine) else None
        self._lock = threading.Lock()

    def _db(self) -> Engine:
        with self._lock:
            if self._engine is None:
                factory = self._engine_or_factory
                assert callable(factory)
                self._engine = factory()
            return self._engine

    @classmethod
    def for_url(cls, database_url: str) -> RestockNotices:
        return cls(lambda: make_engine(database_url))

    def take(self, sender_id: str) -> list[ChatItem]:
        """The sender's due notices as chat items, marked sent; [] when there are none or the DB is unavailable."""
        try:
            engine = self._db()
            due = [s for s in inventory.due_subscriptions(engine, sender_id) if s.channel == WEB_CHANNEL]
            if not due:
                return []
            products = SqlProductRepository(engine)
            items: list[ChatItem] = []
            for subscription in due:
                product = products.get_by_sku(subscription.sku)
                title = product.title.title() if product else f"item {subscription.sku}"
                items.append(
                    {
                        "type": "text",
                        "text": f"Good news: {title} (item {subscription.sku}) is back in stock. "
                        "Say “add it to my basket” or ask me about it.",
                    }
                )
            inventory.mark_notified(engine, [s.id for s in due])
        except (CatalogError, OSError) as exc:
            logger.warning("restock notices unavailable for sender=%s: %s", sender_id, exc)
            return []
        return items
