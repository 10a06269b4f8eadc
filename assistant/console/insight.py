"""The numbers behind the console's insight page: conversations per day, intent mix, fallback rate, sentiment trend,
searches that found nothing, and products at risk of selling out.

Where each comes from, chosen to stay fast at 100k conversations (~1M tracker events; `bench/console_queries.py`):
- conversations per day and the sentiment trend: the console's `conversations` index (one row per conversation,
  maintained by `assistant.console.index`); a conversation counts on the day it started, its sentiment (mean over the
  shopper's messages of P(positive) − P(negative)) on the day of its latest message;
- intent mix, fallback rate and zero-result searches: Rasa's tracker store (`events`), by event type and time. The
  stock SQLTrackerStore indexes only `sender_id`, so `ensure_tracker_index` adds one on (type_name, timestamp,
  action_name, intent_name) — an extra index Rasa neither knows nor minds, made once (`CREATE INDEX IF NOT EXISTS`);
  without it each of these reads the whole table;
- products at risk: `catalog.stock.StockService.at_risk` (forecast-based chance of selling out before the next
  delivery).
Days are UTC calendar days, the last one being today; days without data are present with 0 (counts) or None
(rates and means, drawn as gaps).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, case, cast, func, inspect, select, text
from sqlalchemy import Integer as SqlInteger
from sqlalchemy.exc import SQLAlchemyError

from assistant.console.privacy import EVENTS, tracker_engine
from catalog.errors import CatalogError
from catalog.models import ConversationRow
from catalog.stock import StockService

logger = logging.getLogger(__name__)

FALLBACK_ACTIONS = ("action_default_fallback", "action_fallback")
FALLBACK_INTENT = "nlu_fallback"
INSIGHT_INDEX = "ix_events_console_insight"
INSIGHT_INDEX_DDL = (
    f"CREATE INDEX IF NOT EXISTS {INSIGHT_INDEX} ON events (type_name, timestamp, action_name, intent_name)"
)
MAX_DAYS = 366
FIGURES_CACHE_S = 60.0
STOCK_CACHE_S = 600.0
T = TypeVar("T")


class InsightError(RuntimeError):
    """A database behind the insight page failed; the message names which."""


@dataclass(frozen=True)
class AtRisk:
    """A product likely to sell out before its next delivery (see `catalog.stock`)."""

    sku: str
    title: str
    state: str
    on_hand: int | None
    sellout_probability: float
    sellout_days: int | None
    """Days until it is more likely than not sold out (1 = today); None beyond the forecast horizon."""
    days_of_cover: float | None
    next_restock_on: date | None


def _today() -> date:
    return datetime.now(UTC).date()


def _days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days has value {days!r}; expected a whole number from 1 to {MAX_DAYS}")
    return days


class Insight:
    """Aggregates for the insight page (blocking: call from a thread in async code)."""

    def __init__(
        self,
        catalog_engine: Engine,
        tracker_url: str,
        today: Any = _today,
        cache_s: float = FIGURES_CACHE_S,
        stock_cache_s: float = STOCK_CACHE_S,
    ) -> None:
        """`cache_s` / `stock_cache_s`: how long a computed figure is reused (0 = always recompute). The stock one is
        longer: `StockService.at_risk` assesses every product (~3.5 s on the reference store) and stock moves slowly."""
        self._catalog = catalog_engine
        self._tracker = tracker_engine(tracker_url)
        self._today = today
        self._index_ready = False
        self._cache_s = cache_s
        self._stock_cache_s = stock_cache_s
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[Any, ...], ttl: float, compute: Callable[[], T]) -> T:
        """`compute()`, reused for `ttl` seconds per key (the insight page is opened far more often than it changes)."""
        if ttl <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]  # type: ignore[no-any-return]
        value = compute()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def close(self) -> None:
        self._tracker.dispose()

    # --- window helpers ---------------------------------------------------------------------------------------------

    def _window(self, days: int) -> list[date]:
        last = self._today()
        return [last - timedelta(days=i) for i in range(_days(days) - 1, -1, -1)]

    @staticmethod
    def _start(window: list[date]) -> datetime:
        return datetime.combine(window[0], datetime.min.time())

    @staticmethod
    def _epoch(day: date) -> float:
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()

    def _day_bucket(self) -> ColumnElement[Any]:
        """The UTC day number (days since 1970-01-01) of an event's float timestamp, on either dialect."""
        if self._tracker.dialect.name == "postgresql":
            return cast(func.floor(EVENTS.c.timestamp / 86400), SqlInteger)
        return cast(EVENTS.c.timestamp / 86400, SqlInteger)  # SQLite truncates; timestamps are positive

    # --- tracker index ----------------------------------------------------------------------------------------------

    def ensure_tracker_index(self) -> bool:
        """Add the insight index to Rasa's `events` table if the table exists; True when the index is there."""
        if self._index_ready:
            return True
        try:
            if not inspect(self._tracker).has_table("events"):
                return False
            if self._tracker.dialect.name == "postgresql":  # build it without blocking Rasa's writes
                with self._tracker.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text(INSIGHT_INDEX_DDL.replace("CREATE INDEX", "CREATE INDEX CONCURRENTLY")))
            else:
                with self._tracker.begin() as conn:
                    conn.execute(text(INSIGHT_INDEX_DDL))
        except SQLAlchemyError as exc:
            raise InsightError(f"cannot read Rasa's tracker store {self._tracker.url!r}: {exc}") from exc
        self._index_ready = True
        return True

    def _tracker_rows(self, query: Any) -> list[Any]:
        if not self.ensure_tracker_index():
            return []  # Rasa has not stored a conversation yet
        try:
            with self._tracker.connect() as conn:
                return list(conn.execute(query))
        except SQLAlchemyError as exc:
            raise InsightError(f"reading Rasa's tracker store failed: {exc}") from exc

    def _catalog_rows(self, query: Any) -> list[Any]:
        try:
            with self._catalog.connect() as conn:
                return list(conn.execute(query))
        except SQLAlchemyError as exc:
            raise InsightError(f"reading the console's conversation index failed: {exc}") from exc

    # --- the figures --------------------------------------------------------------------------------------------------

    def conversations_per_day(self, days: int = 30) -> list[tuple[date, int]]:
        """Conversations started on each day."""
        return self._cached(
            ("conversations_per_day", days, self._today()), self._cache_s, lambda: self._conversations_per_day(days)
        )

    def _conversations_per_day(self, days: int) -> list[tuple[date, int]]:
        window = self._window(days)
        start = self._start(window)
        day = func.date(ConversationRow.started_at)
        rows = self._catalog_rows(
            select(day, func.count())
            .where(ConversationRow.last_at >= start, ConversationRow.started_at >= start)
            .group_by(day)
        )
        counts = {_as_date(d): int(n) for d, n in rows}
        return [(d, counts.get(d, 0)) for d in window]

    def sentiment_per_day(self, days: int = 30) -> list[tuple[date, float | None]]:
        """Mean sentiment (−1 negative … +1 positive) of the shoppers' messages, by the day of each conversation's
        latest message; None on days without messages."""
        return self._cached(
            ("sentiment_per_day", days, self._today()), self._cache_s, lambda: self._sentiment_per_day(days)
        )

    def _sentiment_per_day(self, days: int) -> list[tuple[date, float | None]]:
        window = self._window(days)
        day = func.date(ConversationRow.last_at)
        rows = self._catalog_rows(
            select(day, func.sum(ConversationRow.sentiment_sum), func.sum(ConversationRow.user_turns))
            .where(ConversationRow.last_at >= self._start(window))
            .group_by(day)
        )
        means = {_as_date(d): (float(s or 0.0) / int(n)) for d, s, n in rows if n}
        return [(d, _clip(means[d]) if d in means else None) for d in window]

    def intent_mix(self, days: int = 30, top: int = 12) -> list[tuple[str, int]]:
        """The most frequent intents of shopper messages, most frequent first ("(none)" for unparsed ones); with
        more than `top` intents the rest are summed as "other"."""
        return self._cached(
            ("intent_mix", days, top, self._today()), self._cache_s, lambda: self._intent_mix(days, top)
        )

    def _intent_mix(self, days: int, top: int) -> list[tuple[str, int]]:
        window = self._window(days)
        if not 1 <= top <= 100:
            raise ValueError(f"top has value {top!r}; expected 1 to 100")
        rows = self._tracker_rows(
            select(EVENTS.c.intent_name, func.count())
            .where(EVENTS.c.type_name == "user", EVENTS.c.timestamp >= self._epoch(window[0]))
            .group_by(EVENTS.c.intent_name)
        )
        counts = sorted(((str(name or "(none)"), int(n)) for name, n in rows), key=lambda r: (-r[1], r[0]))
        if len(counts) > top:
            rest = sum(n for _, n in counts[top - 1 :])
            counts = [*counts[: top - 1], ("other", rest)]
        return counts

    def fallback_rate_per_day(self, days: int = 30) -> list[tuple[date, float | None]]:
        """Share of shopper messages the assistant did not understand: messages NLU classed `nlu_fallback` plus
        turns where the dialogue fell back (`action_default_fallback`), over all shopper messages; None on days
        without messages."""
        return self._cached(
            ("fallback_rate_per_day", days, self._today()), self._cache_s, lambda: self._fallback_rate_per_day(days)
        )

    def _fallback_rate_per_day(self, days: int) -> list[tuple[date, float | None]]:
        window = self._window(days)
        bucket = self._day_bucket()
        is_fallback = case(
            (EVENTS.c.intent_name == FALLBACK_INTENT, 1),
            (EVENTS.c.action_name == "action_default_fallback", 1),
            else_=0,
        )
        rows = self._tracker_rows(
            select(
                bucket,
                func.sum(case((EVENTS.c.type_name == "user", 1), else_=0)),
                func.sum(is_fallback),
            )
            .where(
                EVENTS.c.type_name.in_(("user", "action")),
                EVENTS.c.timestamp >= self._epoch(window[0]),
            )
            .group_by(bucket)
        )
        rates: dict[date, float] = {}
        for day_number, messages, fallbacks in rows:
            if messages:
                rates[date(1970, 1, 1) + timedelta(days=int(day_number))] = min(1.0, int(fallbacks) / int(messages))
        return [(d, rates.get(d)) for d in window]

    def zero_result_searches(self, days: int = 30, top: int = 15) -> list[tuple[str, int]]:
        """The searches that found nothing (slot `search_result_count` = 0 on a new search), by the words searched
        (slot `last_query` of the same turn, lower-cased), most frequent first."""
        return self._cached(
            ("zero_result_searches", days, top, self._today()),
            self._cache_s,
            lambda: self._zero_result_searches(days, top),
        )

    def _zero_result_searches(self, days: int, top: int) -> list[tuple[str, int]]:
        window = self._window(days)
        if not 1 <= top <= 100:
            raise ValueError(f"top has value {top!r}; expected 1 to 100")
        since = self._epoch(window[0])
        zero_rows = self._tracker_rows(
            select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.data).where(
                EVENTS.c.type_name == "slot",
                EVENTS.c.timestamp >= since,
                EVENTS.c.action_name == "search_result_count",
            )
        )
        zeros = [(int(i), str(s)) for i, s, data in zero_rows if _slot_value(data) in (0, 0.0)]
        if not zeros:
            return []
        senders = sorted({s for _, s in zeros})
        queries: dict[str, list[tuple[int, str]]] = {}
        for start in range(0, len(senders), 400):
            chunk = senders[start : start + 400]
            for event_id, sender, data in self._tracker_rows(
                select(EVENTS.c.id, EVENTS.c.sender_id, EVENTS.c.data).where(
                    EVENTS.c.type_name == "slot",
                    EVENTS.c.timestamp >= since - 3600,
                    EVENTS.c.action_name == "last_query",
                    EVENTS.c.sender_id.in_(chunk),
                )
            ):
                value = _slot_value(data)
                if isinstance(value, str) and value.strip():
                    queries.setdefault(str(sender), []).append((int(event_id), " ".join(value.lower().split())))
        counter: Counter[str] = Counter()
        for event_id, sender in zeros:
            found = sorted(queries.get(sender, []))
            if not found:
                counter["(query not recorded)"] += 1
                continue
            ids = [i for i, _ in found]
            at = bisect_left(ids, event_id)
            # the search action sets last_query just before search_result_count; else the nearest one after
            counter[found[at - 1][1] if at > 0 else found[0][1]] += 1
        return sorted(counter.items(), key=lambda r: (-r[1], r[0]))[:top]

    def products_at_risk(self, limit: int = 10) -> list[AtRisk]:
        """Products likely to sell out before their next delivery, most likely first ([] without stock data)."""
        return self._cached(
            ("products_at_risk", limit, self._today()), self._stock_cache_s, lambda: self._products_at_risk(limit)
        )

    def _products_at_risk(self, limit: int) -> list[AtRisk]:
        try:
            statuses = StockService(self._catalog).at_risk(limit)
        except CatalogError as exc:
            logger.warning("stock at risk unavailable: %s", exc)
            return []
        return [
            AtRisk(
                sku=s.sku,
                title=s.title,
                state=str(s.state.value),
                on_hand=s.on_hand,
                sellout_probability=float(s.sellout_probability or 0.0),
                sellout_days=s.sellout_days,
                days_of_cover=s.days_of_cover,
                next_restock_on=s.next_restock.expected_on if s.next_restock else None,
            )
            for s in statuses
        ]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))


def _slot_value(data: str | None) -> Any:
    try:
        return json.loads(data or "{}").get("value")
    except (ValueError, AttributeError):
        return None
