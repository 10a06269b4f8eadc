"""The conversation list: each filter, text search by word prefix, pages, order, refusals; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime

import pytest
from sqlalchemy import Engine

from assistant.console.index import ConversationIndex
from assistant.console.queries import ConversationQuery, QueryError, search_conversations
from assistant.console.transcripts import TrackerReader
from catalog.db import make_engine
from catalog.migrate import upgrade
from tests.assistant.console.conftest import add_event, add_turn, create_tracker_schema, timestamp, tracker_engine

NEG = {"negative": 0.9, "neutral": 0.05, "positive": 0.05}
POS = {"negative": 0.05, "neutral": 0.15, "positive": 0.8}


def a_shop(url: str) -> None:
    """Five conversations, each standing out in one way."""
    add_turn(
        url,
        "web-happy",
        "I love these Lunch Bags!",
        "praise",
        at=datetime(2026, 11, 1, 9),
        sentiment="positive",
        sentiment_scores=POS,
    )
    add_turn(
        url,
        "web-angry",
        "where is my order, this is awful",
        "complain",
        at=datetime(2026, 11, 10, 9),
        sentiment="negative",
        sentiment_scores=NEG,
    )
    add_turn(url, "web-angry", "ok thanks", "thank", at=datetime(2026, 11, 10, 9, 5))
    add_turn(
        url,
        "tg-lost",
        "qwxz blorp",
        "nlu_fallback",
        at=datetime(2026, 11, 20, 9),
        channel="telegram",
        action="action_fallback",
    )
    add_turn(
        url,
        "web-human",
        "can I talk to a person about candles",
        "human_handoff",
        at=datetime(2026, 11, 25, 9),
        action="action_handoff",
    )
    add_event(
        url,
        "web-human",
        {
            "event": "slot",
            "name": "customer_id",
            "value": "12346",
            "timestamp": timestamp(datetime(2026, 11, 25, 9, 0, 30)),
        },
    )
    add_turn(url, "web-human", "the café candles", "search_products", at=datetime(2026, 11, 25, 9, 1))
    add_turn(url, "web-quiet", "hello", "greet", at=datetime(2026, 11, 28, 9))
    add_event(
        url, "web-silent", {"event": "session_started", "timestamp": timestamp(datetime(2026, 11, 29))}
    )  # opened the page, never wrote: not listed


def ids(engine: Engine, **filters: object) -> list[str]:
    return [r.sender_id for r in search_conversations(engine, ConversationQuery(**filters)).rows]  # type: ignore[arg-type]


@pytest.fixture
def shop(catalog_engine: Engine, tracker_url: str) -> Engine:
    a_shop(tracker_url)
    ConversationIndex(catalog_engine, TrackerReader(tracker_url)).sync()
    return catalog_engine


def check_every_filter(engine: Engine) -> None:
    assert ids(engine) == ["web-quiet", "web-human", "tg-lost", "web-angry", "web-happy"]
    assert ids(engine, text="lunch") == ["web-happy"]
    assert ids(engine, text="LUNCH ba") == ["web-happy"]  # every word, as a prefix, any case
    assert ids(engine, text="lunch order") == []
    assert ids(engine, text="candle") == ["web-human"]
    assert ids(engine, text="!!! ...") == ids(engine)  # no words: no text filter
    assert ids(engine, channel="telegram") == ["tg-lost"]
    assert ids(engine, customer_id="12346") == ["web-human"]
    assert ids(engine, handoff=True) == ["web-human"]
    assert ids(engine, fallback=True) == ["tg-lost"]
    assert ids(engine, fallback=False, handoff=False) == ["web-quiet", "web-angry", "web-happy"]
    assert ids(engine, sentiment="negative") == ["web-angry"]
    assert ids(engine, sentiment="positive") == ["web-happy"]
    assert ids(engine, sentiment="neutral") == ["web-quiet", "web-human", "tg-lost"]
    assert ids(engine, date_from=date(2026, 11, 10), date_to=date(2026, 11, 20)) == ["tg-lost", "web-angry"]
    assert ids(engine, date_to=date(2026, 11, 1)) == ["web-happy"]
    assert ids(engine, date_from=date(2026, 11, 29)) == []
    assert ids(engine, text="hello", channel="rest", sentiment="neutral") == ["web-quiet"]


def test_every_filter_on_sqlite(shop: Engine) -> None:
    check_every_filter(shop)


def test_rows_and_pages(shop: Engine) -> None:
    page = search_conversations(shop, ConversationQuery(per_page=2, page=2))
    assert (page.total, page.page, page.per_page, page.pages) == (5, 2, 2, 3)
    assert [r.sender_id for r in page.rows] == ["tg-lost", "web-angry"]
    angry = page.rows[1]
    assert angry.user_turns == 2 and angry.preview == "ok thanks" and angry.channel == "rest"
    assert angry.mean_sentiment == pytest.approx((0.05 - 0.9) / 2)
    assert angry.started_at < angry.last_at and angry.fallbacks == 0 and not angry.handoff
    assert search_conversations(shop, ConversationQuery(page=4, per_page=2)).rows == []
    human = search_conversations(shop, ConversationQuery(customer_id="12346")).rows[0]
    assert human.customer_id == "12346" and human.handoff and human.preview == "the café candles"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"page": 0}, "page"),
        ({"per_page": 101}, "per_page"),
        ({"per_page": True}, "per_page"),
        ({"text": "x" * 201}, "at most 200"),
        ({"date_from": date(2026, 11, 2), "date_to": date(2026, 11, 1)}, "swap"),
        ({"date_from": "2026-11-01"}, "expected a date"),
        ({"sentiment": "angry"}, "negative, neutral, positive"),
        ({"channel": ""}, "channel"),
        ({"customer_id": "x" * 21}, "customer_id"),
        ({"handoff": "yes"}, "true, false"),
    ],
)
def test_malformed_queries_say_what_is_wrong(shop: Engine, change: dict[str, object], says: str) -> None:
    with pytest.raises(QueryError, match=says):
        search_conversations(shop, replace(ConversationQuery(), **change))  # type: ignore[arg-type]


def test_search_text_cannot_inject_fts_syntax(shop: Engine) -> None:
    check_odd_words(shop)


ODD_WORDS = ['lunch" OR "x', "NEAR(lunch bag)", "lunch*", "sender_id:web", "'; DROP TABLE conversations; --", "___",
             "lunch ___", "½ ² ǅ", "a:* & !b | (c)", "lunch\\"]  # fmt: skip


def check_odd_words(engine: Engine) -> None:
    for words in ODD_WORDS:
        search_conversations(engine, ConversationQuery(text=words))
    assert ids(engine, text='lunch" OR "x') == []  # quotes are not syntax: "lunch" and "x" must both appear
    assert ids(engine, text="lunch*") == ["web-happy"]
    assert len(ids(engine)) == 5


@pytest.fixture
def postgres_shop(postgres_url: str) -> Iterator[Engine]:
    catalog = make_engine(postgres_url)
    upgrade(catalog)
    create_tracker_schema(postgres_url)
    a_shop(postgres_url)
    ConversationIndex(catalog, TrackerReader(postgres_url)).sync()
    yield catalog
    catalog.dispose()
    tracker_engine(postgres_url).dispose()


@pytest.mark.postgres
def test_every_filter_on_postgres(postgres_shop: Engine) -> None:
    check_every_filter(postgres_shop)
    check_odd_words(postgres_shop)
    with postgres_shop.connect() as conn:  # the text search can use the GIN index
        plan = "\n".join(
            conn.exec_driver_sql(
                "SET enable_seqscan = off; EXPLAIN SELECT sender_id FROM conversations WHERE "
                "to_tsvector('simple'::regconfig, search_text) @@ to_tsquery('simple'::regconfig, 'lunch:*')"
            ).scalars()
        )
    assert "ix_conversations_search" in plan
