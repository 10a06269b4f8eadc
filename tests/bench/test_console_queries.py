"""The console benchmark's generator makes Rasa-shaped events that the console reads like real ones."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from assistant.console.index import ConversationIndex
from assistant.console.queries import ConversationQuery, search_conversations
from assistant.console.transcripts import TrackerReader
from bench import console_queries as cq
from catalog.db import make_engine
from catalog.migrate import upgrade


def test_generated_store_is_deterministic_and_rasa_shaped(tmp_path: Path) -> None:
    first = list(cq.generate_rows(50, seed=7, now=1.8e9))
    assert first == list(cq.generate_rows(50, seed=7, now=1.8e9))
    assert [r[2] for r in first] == sorted(r[2] for r in first)  # stored in time order, conversations interleaved
    kinds = {r[1] for r in first}
    assert {"user", "bot", "action", "slot", "session_started"} <= kinds
    for _sender, kind, at, intent, action, data in first:
        event = json.loads(data)
        assert event["event"] == kind and event["timestamp"] == at
        assert intent == (event.get("parse_data") or {}).get("intent", {}).get("name")
        assert action == event.get("name")
    user = next(json.loads(r[5]) for r in first if r[1] == "user" and not json.loads(r[5])["text"].startswith("/"))
    assert set(user["parse_data"]) >= {"intent", "entities", "intent_ranking", "sentiment", "text"}


def test_the_console_reads_a_generated_store(tmp_path: Path) -> None:
    sizes = cq.generate_sqlite(tmp_path / "tracker.db", 300, seed=3)
    assert 8 * 300 < sizes.events < 16 * 300
    catalog: Engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(catalog)
    reader = TrackerReader(f"sqlite:///{tmp_path / 'tracker.db'}")
    assert ConversationIndex(catalog, reader).sync() == 300
    everything = search_conversations(catalog, ConversationQuery())
    assert everything.total == 300
    fallbacks = search_conversations(catalog, ConversationQuery(fallback=True)).total
    handoffs = search_conversations(catalog, ConversationQuery(handoff=True)).total
    assert 5 <= fallbacks <= 60 and 2 <= handoffs <= 40
    assert search_conversations(catalog, ConversationQuery(text="bag")).total > 10
    transcript = reader.transcript(everything.rows[0].sender_id)
    assert any(item.kind == "user" and item.intent for item in transcript)
    reader.dispose()
    catalog.dispose()


def test_the_table_prints_a_ratio() -> None:
    printed = cq.table([("1k", {"list": 2.0, "only small": 1.0}), ("100k", {"list": 3.0})])
    assert "1.5" in printed.splitlines()[2] and printed.splitlines()[3].rstrip().endswith("-")
