"""`conversations`: the console's searchable summary of Rasa's tracker store, kept in step by `ConversationIndex.sync`.

The tracker store has one row per event and no summary; listing, filtering and searching 100k conversations straight
from it would read millions of JSON events per page. So the console keeps one row per conversation in the catalog
DB (channel, customer, times, turn/fallback/sentiment counts, handoff, the shopper's words for text search), derived
from the events alone and recomputable at any time.

How sync stays correct and cheap:
- Incremental: it reads event ids from the top down, 1,000 at a time, and stops at the first batch at or below the
  watermark (the highest event id already indexed) holding nothing new, so an idle sync costs one small range
  read. An event is new when its sender has no row or the row's `last_event_id` is lower. That also catches ids
  SQLite hands out again after the newest conversation was erased (`INTEGER PRIMARY KEY` without AUTOINCREMENT
  reuses the top ids) and events a PostgreSQL replica committed late with a lower id.
- Idempotent: a sender with new events has its row recomputed from all of its events, never patched, so running
  sync twice, or after a crash half-way, gives the same rows.
- No resurrection: erasure (`assistant.console.privacy`) deletes the sender's tracker events first, then its row.
  Before committing, sync checks that every sender it wrote still has events and drops the rows of those that do
  not; a row written just before the events vanish is deleted by the erasure itself, which runs after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from assistant.console.transcripts import (
    CUSTOMER_SLOT,
    EVENT_COLUMNS,
    FALLBACK_ACTIONS,
    FALLBACK_INTENT,
    HANDOFF_ACTION,
    HANDOFF_INTENT,
    HANDOFF_SLOT,
    SEARCH_COUNT_SLOT,
    StoredEvent,
    TrackerReader,
    TrackerUnavailable,
    decode,
    event_time,
    mapping,
    sentiment_of,
    string,
)
from catalog.errors import CatalogUnavailable
from catalog.models import ConsoleSyncStateRow, ConversationRow

logger = logging.getLogger(__name__)

WATERMARK = "tracker_event_id"
"""`console_sync_state` name of the highest tracker event id indexed."""
SCAN_BATCH = 1000
"""Event ids read per step of the top-down scan for new events."""
SENDERS_PER_QUERY = 500
ROWS_PER_TRANSACTION = 2000
"""Rows written per catalog transaction: short write locks for the action server sharing an SQLite catalog."""
FULL_SCAN_ROWS = 20_000
ANALYZE_AFTER_ROWS = 1000
"""PostgreSQL: refresh the planner's statistics after writing this many rows. Without them, a first sync of 100k
conversations leaves the planner scanning by date and computing `to_tsvector` row by row for a rare word (230 ms
instead of 20 ms at 100k, `bench/console_queries.py`) until autovacuum gets round to the table."""
MAX_SEARCH_CHARS = 20_000
"""Most recent shopper text kept for search per conversation (a bound on index size, not a limit on transcripts)."""
SLOTS_READ = frozenset({CUSTOMER_SLOT, SEARCH_COUNT_SLOT, HANDOFF_SLOT})


@dataclass
class Summary:
    """One conversation's row, built by feeding its `events` rows in id order (`add`)."""

    sender_id: str
    channel: str | None = None
    customer_id: str | None = None
    first_ts: float | None = None
    last_ts: float | None = None
    user_turns: int = 0
    negative_turns: int = 0
    sentiment_sum: float = 0.0
    fallbacks: int = 0
    handoff: bool = False
    zero_result_searches: int = 0
    last_event_id: int = 0
    texts: list[str] = field(default_factory=list)
    _turn_fell_back: bool = False

    def add(self, row: Sequence[Any]) -> None:
        """One `events` row (id, sender_id, type_name, timestamp, intent_name, action_name, data). The JSON is parsed
        only for user messages and the few slots read: three events in four say enough in their columns."""
        event_id, _, kind, ts, intent_name, action_name, _ = row
        if ts is not None:
            self.first_ts = ts if self.first_ts is None or ts < self.first_ts else self.first_ts
            self.last_ts = ts if self.last_ts is None or ts > self.last_ts else self.last_ts
        if event_id > self.last_event_id:
            self.last_event_id = event_id
        if kind == "user":
            self._user(decode(row), intent_name)
        elif kind == "action":
            if action_name in FALLBACK_ACTIONS and not self._turn_fell_back:
                self.fallbacks += 1
                self._turn_fell_back = True
            elif action_name == HANDOFF_ACTION:
                self.handoff = True
        elif kind == "slot" and action_name in SLOTS_READ:
            self._slot(action_name, decode(row).data.get("value"))
        elif kind == "pause":
            self.handoff = True

    def _user(self, event: StoredEvent, intent_name: str | None) -> None:
        data = event.data
        parse_data = mapping(data.get("parse_data"))
        intent = intent_name or string(mapping(parse_data.get("intent")).get("name"))
        self.user_turns += 1
        self._turn_fell_back = intent == FALLBACK_INTENT
        if self._turn_fell_back:
            self.fallbacks += 1
        if intent == HANDOFF_INTENT:
            self.handoff = True
        self.channel = string(data.get("input_channel")) or self.channel
        label, score = sentiment_of(parse_data)
        if label == "negative":
            self.negative_turns += 1
        self.sentiment_sum += score or 0.0
        words = string(data.get("text"))
        if words and not words.startswith("/"):  # button payloads and photo shares are not the shopper's words
            self.texts.append(" ".join(words.split()))

    def _slot(self, name: str, value: Any) -> None:
        if name == CUSTOMER_SLOT and isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            self.customer_id = str(value)[:20]
        elif name == SEARCH_COUNT_SLOT and isinstance(value, int | float) and not isinstance(value, bool):
            self.zero_result_searches += value == 0
        elif name == HANDOFF_SLOT and value is True:
            self.handoff = True

    def search_text(self) -> str:
        kept: list[str] = []
        size = 0
        for words in reversed(self.texts):
            size += len(words) + 1
            if size > MAX_SEARCH_CHARS:
                break
            kept.append(words)
        return "\n".join(reversed(kept))

    def row(self) -> dict[str, Any]:
        started = event_time(self.first_ts)
        return {
            "sender_id": self.sender_id,
            "channel": (self.channel or "unknown")[:50],
            "customer_id": self.customer_id,
            "started_at": started,
            "last_at": event_time(self.last_ts) if self.last_ts is not None else started,
            "user_turns": self.user_turns,
            "negative_turns": self.negative_turns,
            "sentiment_sum": self.sentiment_sum,
            "fallbacks": self.fallbacks,
            "handoff": self.handoff,
            "zero_result_searches": self.zero_result_searches,
            "last_event_id": self.last_event_id,
            "search_text": self.search_text(),
        }


def summarise(rows: Iterable[Sequence[Any]], into: dict[str, Summary] | None = None) -> dict[str, Summary]:
    """Summaries by sender of `events` rows given in id order."""
    summaries = into if into is not None else {}
    for row in rows:
        summary = summaries.get(row[1])
        if summary is None:
            summary = summaries[row[1]] = Summary(row[1])
        summary.add(row)
    return summaries


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class SyncReport:
    updated: int
    removed: int
    watermark: int
    seconds: float


class ConversationIndex:
    """Keeps `conversations` in step with the tracker store. Errors: `TrackerUnavailable`, `CatalogUnavailable`."""

    def __init__(self, catalog_engine: Engine, reader: TrackerReader) -> None:
        self._catalog = catalog_engine
        self._reader = reader
        self._tracker = reader.engine
        self.last_report: SyncReport | None = None

    def sync(self) -> int:
        """Bring the index up to date with the tracker store; returns how many conversations were (re)written."""
        start = time.perf_counter()
        if not self._reader.ready():
            return 0
        try:
            watermark = self._watermark()
            with self._tracker.connect() as tracker:
                top = int(tracker.scalar(text("SELECT max(id) FROM events")) or 0)
                if watermark == 0:
                    summaries = self._full_scan(tracker, top)
                else:
                    senders = self._senders_with_new_events(tracker, top, watermark)
                    summaries = self._recompute(tracker, senders, top)
            updated, removed = self._write(summaries, top)
            if updated >= ANALYZE_AFTER_ROWS and self._catalog.dialect.name == "postgresql":
                with self._catalog.begin() as conn:
                    conn.execute(text("ANALYZE conversations"))
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc
        self.last_report = SyncReport(updated, removed, top, time.perf_counter() - start)
        if updated or removed:
            logger.info("conversation index: %d updated, %d dropped (erased) up to event %d", updated, removed, top)
        return updated

    # --- finding what changed ----------------------------------------------------------------------------------

    def _senders_with_new_events(self, tracker: Connection, top: int, watermark: int) -> list[str]:
        fresh: set[str] = set()
        high = top
        while high > 0:
            low = max(0, high - SCAN_BATCH)
            rows = tracker.execute(
                text("SELECT id, sender_id FROM events WHERE id > :low AND id <= :high"), {"low": low, "high": high}
            ).all()
            known = self._last_event_ids({str(r[1]) for r in rows})
            new_here = {str(sender) for event_id, sender in rows if known.get(str(sender), -1) < int(event_id)}
            fresh |= new_here
            if low < watermark and not new_here:  # reached indexed events and found nothing new among them
                break
            high = low
        return sorted(fresh)

    def _last_event_ids(self, senders: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        with self._catalog.connect() as conn:
            for chunk in _chunks(sorted(senders), SENDERS_PER_QUERY):
                rows = conn.execute(
                    select(ConversationRow.sender_id, ConversationRow.last_event_id).where(
                        ConversationRow.sender_id.in_(chunk)
                    )
                )
                found.update({str(s): int(i) for s, i in rows})
        return found

    # --- computing rows ----------------------------------------------------------------------------------------

    def _full_scan(self, tracker: Connection, top: int) -> dict[str, Summary]:
        """Every event once, in id order (the first sync, or after the watermark was reset)."""
        summaries: dict[str, Summary] = {}
        after = 0
        while after < top:
            rows = tracker.execute(
                text(f"SELECT {EVENT_COLUMNS} FROM events WHERE id > :after AND id <= :top ORDER BY id LIMIT :n"),
                {"after": after, "top": top, "n": FULL_SCAN_ROWS},
            ).all()
            if not rows:
                break
            summarise(rows, into=summaries)
            after = int(rows[-1][0])
        return summaries

    def _recompute(self, tracker: Connection, senders: list[str], top: int) -> dict[str, Summary]:
        summaries: dict[str, Summary] = {}
        query = text(f"SELECT {EVENT_COLUMNS} FROM events WHERE sender_id IN :senders AND id <= :top ORDER BY id")
        query = query.bindparams(bindparam("senders", expanding=True))
        for chunk in _chunks(senders, SENDERS_PER_QUERY):
            rows = tracker.execute(query, {"senders": list(chunk), "top": top}).all()
            summarise(rows, into=summaries)
        return summaries

    # --- writing -----------------------------------------------------------------------------------------------

    def _write(self, summaries: dict[str, Summary], top: int) -> tuple[int, int]:
        rows = [summary.row() for summary in summaries.values()]
        updated = removed = 0
        for start in range(0, len(rows), ROWS_PER_TRANSACTION):
            chunk = rows[start : start + ROWS_PER_TRANSACTION]
            with self._catalog.begin() as conn:
                _upsert(conn, chunk)
                gone = self._without_events([r["sender_id"] for r in chunk])
                if gone:
                    conn.execute(delete(ConversationRow).where(ConversationRow.sender_id.in_(gone)))
            updated += len(chunk) - len(gone)
            removed += len(gone)
        with self._catalog.begin() as conn:
            _set_state(conn, WATERMARK, top)
        return updated, removed

    def _without_events(self, senders: list[str]) -> list[str]:
        query = text("SELECT DISTINCT sender_id FROM events WHERE sender_id IN :senders")
        query = query.bindparams(bindparam("senders", expanding=True))
        present: set[str] = set()
        with self._tracker.connect() as tracker:
            for chunk in _chunks(senders, SENDERS_PER_QUERY):
                present.update(str(s) for (s,) in tracker.execute(query, {"senders": list(chunk)}))
        return [s for s in senders if s not in present]

    def _watermark(self) -> int:
        with self._catalog.connect() as conn:
            value = conn.scalar(select(ConsoleSyncStateRow.value).where(ConsoleSyncStateRow.name == WATERMARK))
        return int(value or 0)

    # --- maintenance -------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the watermark: the next sync recomputes every conversation from the tracker store."""
        try:
            with self._catalog.begin() as conn:
                _set_state(conn, WATERMARK, 0)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from exc


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = ConversationRow.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name != "sender_id"}
    conn.execute(statement.on_conflict_do_update(index_elements=["sender_id"], set_=updates), rows)


def _set_state(conn: Connection, name: str, value: int) -> None:
    table = ConsoleSyncStateRow.__table__
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(name=name, value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"value": value}))


def _unavailable(exc: SQLAlchemyError) -> Exception:
    statement = str(getattr(exc, "statement", "") or "")
    if "events" in statement and "conversations" not in statement:
        return TrackerUnavailable(f"reading the tracker store failed: {exc}")
    return CatalogUnavailable(f"updating the conversation index failed: {exc}")
