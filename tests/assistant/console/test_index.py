"""The conversation index: rows derived from tracker events, incremental and idempotent sync, no resurrection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text

from assistant.console.index import SCAN_BATCH, ConversationIndex, Summary
from assistant.console.transcripts import TrackerReader
from catalog.db import make_engine
from catalog.migrate import upgrade
from catalog.models import ConversationRow
from tests.assistant.console.conftest import (
    add_agent_message,
    add_event,
    add_events,
    add_turn,
    create_tracker_schema,
    timestamp,
    tracker_engine,
)


def rows(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.sender_id: r for r in conn.execute(select(ConversationRow)).all()}


def fts_hits(engine: Engine, word: str) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT c.sender_id FROM conversations c WHERE c.rowid IN "
                    "(SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH :w)"
                ),
                {"w": word},
            ).scalars()
        )


def erase(tracker_url: str, catalog: Engine, sender_id: str) -> None:
    """What the privacy module does, in its order: tracker events first, then the index row."""
    with tracker_engine(tracker_url).begin() as conn:
        conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id})
    with catalog.begin() as conn:
        conn.execute(text("DELETE FROM conversations WHERE sender_id = :s"), {"s": sender_id})


def a_full_conversation(url: str) -> None:
    add_turn(url, "web-a", "hello!", "greet", at=datetime(2026, 11, 29, 10, 0), sentiment="positive")
    add_turn(
        url,
        "web-a",
        "Red LUNCH   bags?",
        "search_products",
        at=datetime(2026, 11, 29, 10, 1),
        action="action_search_products",
        slots={"search_result_count": 0.0, "last_query": "red lunch bags"},
    )
    add_turn(
        url,
        "web-a",
        "blorp zzz",
        "nlu_fallback",
        at=datetime(2026, 11, 29, 10, 2),
        action="action_fallback",
        sentiment="negative",
    )
    add_turn(
        url,
        "web-a",
        "still nothing",
        "complain",
        at=datetime(2026, 11, 29, 10, 3),
        action="action_fallback",
        sentiment="negative",
    )  # a fallback action without nlu_fallback: one more fallback turn
    add_turn(
        url, "web-a", '/share_photo{"image_id": "abc"}', "share_photo", at=datetime(2026, 11, 29, 10, 4), sentiment=None
    )
    add_turn(
        url,
        "web-a",
        "/human_handoff",
        "human_handoff",
        at=datetime(2026, 11, 29, 10, 5),
        sentiment=None,
        action="action_handoff",
        slots={"handoff_requested": True},
    )
    add_event(
        url,
        "web-a",
        {
            "event": "slot",
            "name": "customer_id",
            "value": "12346",
            "timestamp": timestamp(datetime(2026, 11, 29, 10, 6)),
        },
    )
    add_event(
        url,
        "web-a",
        {"event": "slot", "name": "customer_id", "value": None, "timestamp": timestamp(datetime(2026, 11, 29, 10, 7))},
    )  # cleared later: the customer stays known
    add_agent_message(url, "web-a", "Hi, Sam here", at=datetime(2026, 11, 29, 10, 8))  # fmt: skip


def test_a_row_summarises_the_conversation(catalog_engine: Engine, tracker_url: str) -> None:
    a_full_conversation(tracker_url)
    add_turn(tracker_url, "tg-b", "hi", "greet", channel="telegram", at=datetime(2026, 11, 29, 11, 0))
    index = ConversationIndex(catalog_engine, TrackerReader(tracker_url))
    assert index.sync() == 2
    got = rows(catalog_engine)
    a = got["web-a"]
    assert (a.channel, a.customer_id, a.user_turns, a.negative_turns) == ("rest", "12346", 6, 2)
    assert (a.fallbacks, a.handoff, a.zero_result_searches) == (2, True, 1)
    assert a.started_at < datetime(2026, 11, 29, 10, 0) < a.last_at
    assert a.last_at >= datetime(2026, 11, 29, 10, 8)
    assert a.sentiment_sum == pytest.approx(0.7 - 0.7 - 0.7)
    assert a.search_text == "hello!\nRed LUNCH bags?\nblorp zzz\nstill nothing"
    with tracker_engine(tracker_url).connect() as conn:
        assert a.last_event_id == conn.execute(text("SELECT max(id) FROM events WHERE sender_id = 'web-a'")).scalar()
    assert got["tg-b"].channel == "telegram" and not got["tg-b"].handoff and got["tg-b"].fallbacks == 0
    assert fts_hits(catalog_engine, "lunch") == {"web-a"}


def test_sync_is_incremental_idempotent_and_cheap_when_idle(catalog_engine: Engine, tracker_url: str) -> None:
    for i in range(30):
        add_turn(tracker_url, f"web-{i}", f"hello number {i}", "greet")
    reader = TrackerReader(tracker_url)
    index = ConversationIndex(catalog_engine, reader)
    assert index.sync() == 30
    before = rows(catalog_engine)

    statements: list[str] = []
    event.listen(reader.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert index.sync() == 0
    assert len(statements) <= 2  # max(id) and one range of at most SCAN_BATCH ids
    assert rows(catalog_engine) == before

    add_turn(tracker_url, "web-7", "any red lunch bags", "search_products")
    assert index.sync() == 1
    assert rows(catalog_engine)["web-7"].user_turns == 2
    assert fts_hits(catalog_engine, "lunch") == {"web-7"}

    index.reset()  # a full recomputation gives the same rows
    assert index.sync() == 30
    assert rows(catalog_engine) == {**before, "web-7": rows(catalog_engine)["web-7"]}


def test_ids_reused_after_erasing_the_newest_conversation_are_found(catalog_engine: Engine, tracker_url: str) -> None:
    add_turn(tracker_url, "web-old", "hello", "greet")
    erased_ids = add_turn(tracker_url, "web-gone", "please delete my data", "delete_my_data")
    index = ConversationIndex(catalog_engine, TrackerReader(tracker_url))
    index.sync()
    erase(tracker_url, catalog_engine, "web-gone")
    new_ids = add_turn(tracker_url, "web-new", "lunch bags", "search_products")
    assert min(new_ids) <= max(erased_ids)  # SQLite handed the erased ids out again
    assert index.sync() == 1
    assert set(rows(catalog_engine)) == {"web-old", "web-new"}
    assert fts_hits(catalog_engine, "delete") == set()


def test_a_late_commit_with_a_lower_id_is_found(catalog_engine: Engine, tracker_url: str) -> None:
    add_turn(tracker_url, "web-a", "hello", "greet")
    add_events(tracker_url, "web-a", [{"event": "action", "name": "action_listen"}] * 50)
    index = ConversationIndex(catalog_engine, TrackerReader(tracker_url))
    index.sync()
    with tracker_engine(tracker_url).begin() as conn:  # a replica's event committed after sync read past its id
        conn.execute(text("DELETE FROM events WHERE id = 20"))
    index.sync()
    with tracker_engine(tracker_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, sender_id, type_name, timestamp, intent_name, data) VALUES "
                "(20, 'web-late', 'user', 1.0, 'greet', '{\"event\": \"user\", \"text\": \"late hello\"}')"
            )
        )
    assert index.sync() == 1
    assert rows(catalog_engine)["web-late"].search_text == "late hello"


def test_erased_conversations_are_not_resurrected(catalog_engine: Engine, tracker_url: str) -> None:
    add_turn(tracker_url, "web-a", "hello", "greet")
    add_turn(tracker_url, "web-b", "my address is 1 secret street", "change_address")
    index = ConversationIndex(catalog_engine, TrackerReader(tracker_url))
    index.sync()
    erase(tracker_url, catalog_engine, "web-b")
    index.reset()
    index.sync()
    assert set(rows(catalog_engine)) == {"web-a"}
    assert fts_hits(catalog_engine, "secret") == set()


def test_an_erasure_racing_a_sync_wins(catalog_engine: Engine, tracker_url: str) -> None:
    add_turn(tracker_url, "web-a", "hello", "greet")
    add_turn(tracker_url, "web-b", "erase me", "delete_my_data")

    class Racing(ConversationIndex):
        def _recompute(self, *args: Any, **kwargs: Any) -> dict[str, Summary]:
            summaries = super()._recompute(*args, **kwargs)
            erase(tracker_url, catalog_engine, "web-b")  # events gone after they were read, before the write
            return summaries

        def _full_scan(self, *args: Any, **kwargs: Any) -> dict[str, Summary]:
            summaries = super()._full_scan(*args, **kwargs)
            erase(tracker_url, catalog_engine, "web-b")
            return summaries

    index = Racing(catalog_engine, TrackerReader(tracker_url))
    assert index.sync() == 1
    assert set(rows(catalog_engine)) == {"web-a"}
    assert index.last_report is not None and index.last_report.removed == 1


def test_the_scan_crosses_batches(catalog_engine: Engine, tracker_url: str) -> None:
    add_turn(tracker_url, "web-a", "hello", "greet")
    index = ConversationIndex(catalog_engine, TrackerReader(tracker_url))
    index.sync()
    add_turn(tracker_url, "web-b", "first words", "greet")
    add_events(tracker_url, "web-b", [{"event": "action", "name": "action_listen"}] * (3 * SCAN_BATCH))
    assert index.sync() == 1
    assert rows(catalog_engine)["web-b"].search_text == "first words"


def test_no_tracker_store_yet(catalog_engine: Engine, tmp_path: Any) -> None:
    index = ConversationIndex(catalog_engine, TrackerReader(f"sqlite:///{tmp_path / 'none.db'}"))
    assert index.sync() == 0


@pytest.mark.postgres
def test_postgres_catalog_and_tracker(postgres_url: str) -> None:
    catalog = make_engine(postgres_url)
    upgrade(catalog)
    create_tracker_schema(postgres_url)
    a_full_conversation(postgres_url)
    index = ConversationIndex(catalog, TrackerReader(postgres_url))
    assert index.sync() == 1
    a = rows(catalog)["web-a"]
    assert (a.user_turns, a.fallbacks, a.handoff, a.customer_id) == (6, 2, True, "12346")
    add_turn(postgres_url, "web-a", "thanks", "thank")
    assert index.sync() == 1 and index.sync() == 0
    catalog.dispose()
    tracker_engine(postgres_url).dispose()


@pytest.mark.postgres
def test_postgres_statistics_are_refreshed_after_a_big_sync(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("assistant.console.index.ANALYZE_AFTER_ROWS", 2)
    catalog = make_engine(postgres_url)
    upgrade(catalog)
    create_tracker_schema(postgres_url)
    add_turn(postgres_url, "web-a", "hello", "greet")
    index = ConversationIndex(catalog, TrackerReader(postgres_url))
    query = text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'conversations'")
    index.sync()  # one row: below the threshold
    with catalog.connect() as conn:
        assert conn.execute(query).scalar() is None
    add_turn(postgres_url, "web-b", "hello", "greet")
    add_turn(postgres_url, "web-c", "hello", "greet")
    index.sync()
    with catalog.connect() as conn:
        assert conn.execute(query).scalar() is not None
    catalog.dispose()
    tracker_engine(postgres_url).dispose()
