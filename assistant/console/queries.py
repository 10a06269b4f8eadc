"""The conversation list: text search, filters and pages over the `conversations` index, newest activity first.

Text search matches every word the staff member typed as a word prefix in what the shopper wrote ("lunch bag" finds
"Lunch bags?"), through SQLite FTS5 or PostgreSQL's GIN-indexed `to_tsvector('simple', ...)` (migration 0005); both
are measured at 100k conversations by `bench/console_queries.py`. Conversations in which the shopper never wrote
(a page opened, nothing typed) are not listed.

Sentiment of a conversation, as the filter means it: "negative" when at least one shopper message was classified
negative (staff look for unhappy shoppers, and one angry message in a long chat matters); otherwise "positive" when
the mean signed score (P(positive) - P(negative)) is at least `SENTIMENT_MARGIN`, else "neutral". The three
partition the list.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, TextClause, and_, bindparam, func, literal_column, select, text
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import CatalogUnavailable
from catalog.models import ConversationRow

Sentiment = Literal["negative", "neutral", "positive"]
SENTIMENTS: tuple[Sentiment, ...] = ("negative", "neutral", "positive")
SENTIMENT_MARGIN = 0.2
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_TEXT_CHARS = 200
MAX_WORDS = 8
PREVIEW_CHARS = 140
WORD = re.compile(r"\w+", re.UNICODE)
Condition = ColumnElement[bool] | TextClause


class QueryError(ValueError):
    """A malformed list query; the message names the field and what is expected."""


@dataclass(frozen=True)
class ConversationQuery:
    text: str = ""
    date_from: date | None = None
    date_to: date | None = None
    channel: str | None = None
    sentiment: Sentiment | None = None
    handoff: bool | None = None
    fallback: bool | None = None
    customer_id: str | None = None
    page: int = 1
    per_page: int = 25


@dataclass(frozen=True)
class ConversationSummary:
    sender_id: str
    channel: str
    customer_id: str | None
    started_at: datetime
    last_at: datetime
    user_turns: int
    mean_sentiment: float | None
    fallbacks: int
    handoff: bool
    preview: str
    """The shopper's latest words (photos and button presses aside), cut to 140 characters."""


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationSummary]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def search_words(text_: str) -> list[str]:
    """The words a search looks for: letters and digits, lower case, at most `MAX_WORDS`."""
    return [w.lower() for w in WORD.findall(text_ or "")][:MAX_WORDS]


def validate(query: ConversationQuery) -> None:
    """Raise `QueryError` naming the first bad field."""
    for name in ("page", "per_page"):
        value = getattr(query, name)
        high = MAX_PAGE if name == "page" else MAX_PER_PAGE
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise QueryError(f"{name} has value {value!r}; expected a whole number from 1 to {high}")
    if not isinstance(query.text, str) or len(query.text) > MAX_TEXT_CHARS:
        raise QueryError(f"the search text should be at most {MAX_TEXT_CHARS} characters")
    for name in ("date_from", "date_to"):
        value = getattr(query, name)
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise QueryError(f"{name} has value {value!r}; expected a date such as 2026-11-30")
    if query.date_from and query.date_to and query.date_from > query.date_to:
        raise QueryError(f"date_from ({query.date_from}) is after date_to ({query.date_to}): swap them")
    if query.sentiment is not None and query.sentiment not in SENTIMENTS:
        raise QueryError(f"sentiment has value {query.sentiment!r}; expected one of {', '.join(SENTIMENTS)}")
    for name, longest in (("channel", 50), ("customer_id", 20)):
        value = getattr(query, name)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= longest):
            raise QueryError(f"{name} should be 1 to {longest} characters")
    for name in ("handoff", "fallback"):
        value = getattr(query, name)
        if value is not None and not isinstance(value, bool):
            raise QueryError(f"{name} has value {value!r}; expected true, false or no filter")


def _text_condition(dialect: str, words: list[str]) -> Condition:
    if dialect == "sqlite":
        match = " ".join(f'"{w}"*' for w in words)
        return text(
            "conversations.rowid IN (SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH :fts_query)"
        ).bindparams(bindparam("fts_query", match))
    if dialect == "postgresql":
        vector = func.to_tsvector(literal_column("'simple'::regconfig"), ConversationRow.search_text)
        tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), " & ".join(f"{w}:*" for w in words))
        return vector.op("@@")(tsquery)
    return and_(*(ConversationRow.search_text.ilike(f"%{w}%") for w in words))


def conditions(query: ConversationQuery, dialect: str) -> list[Condition]:
    """The WHERE conditions of a (validated) query."""
    found: list[Condition] = [ConversationRow.user_turns > 0]
    words = search_words(query.text)
    if words:
        found.append(_text_condition(dialect, words))
    if query.date_from is not None:
        found.append(ConversationRow.last_at >= datetime.combine(query.date_from, time.min))
    if query.date_to is not None:
        found.append(ConversationRow.started_at < datetime.combine(query.date_to + timedelta(days=1), time.min))
    if query.channel is not None:
        found.append(ConversationRow.channel == query.channel)
    if query.customer_id is not None:
        found.append(ConversationRow.customer_id == query.customer_id)
    if query.handoff is not None:
        found.append(ConversationRow.handoff.is_(query.handoff))
    if query.fallback is not None:
        found.append(ConversationRow.fallbacks > 0 if query.fallback else ConversationRow.fallbacks == 0)
    if query.sentiment == "negative":
        found.append(ConversationRow.negative_turns > 0)
    elif query.sentiment is not None:
        positive = ConversationRow.sentiment_sum >= SENTIMENT_MARGIN * ConversationRow.user_turns
        found += [ConversationRow.negative_turns == 0, positive if query.sentiment == "positive" else ~positive]
    return found


def _preview(search_text: str | None) -> str:
    last = (search_text or "").rsplit("\n", 1)[-1]
    return last if len(last) <= PREVIEW_CHARS else last[: PREVIEW_CHARS - 1] + "…"


def _summary(row: Any) -> ConversationSummary:
    turns = int(row.user_turns)
    return ConversationSummary(
        sender_id=row.sender_id,
        channel=row.channel,
        customer_id=row.customer_id,
        started_at=row.started_at,
        last_at=row.last_at,
        user_turns=turns,
        mean_sentiment=float(row.sentiment_sum) / turns if turns else None,
        fallbacks=int(row.fallbacks),
        handoff=bool(row.handoff),
        preview=_preview(row.search_text),
    )


def search_conversations(engine: Engine, query: ConversationQuery) -> ConversationPage:
    """One page of conversations matching every given filter, latest activity first, and the total that match.
    Raises `QueryError` for a malformed query, `CatalogUnavailable` when the database fails."""
    validate(query)
    where = conditions(query, engine.dialect.name)
    c = ConversationRow
    listing = (
        select(c.sender_id, c.channel, c.customer_id, c.started_at, c.last_at, c.user_turns, c.sentiment_sum)
        .add_columns(c.fallbacks, c.handoff, c.search_text)
        .where(*where)
        .order_by(c.last_at.desc(), c.sender_id.desc())
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    try:
        with engine.connect() as conn:
            total = int(conn.scalar(select(func.count()).select_from(c).where(*where)) or 0)
            rows = conn.execute(listing).all() if total else []
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"listing conversations failed: {exc}") from exc
    return ConversationPage([_summary(row) for row in rows], total, query.page, query.per_page)
