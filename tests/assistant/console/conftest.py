"""Console test fixtures: a migrated catalog DB and a tracker store shaped exactly like Rasa 3.6's `SQLTrackerStore`.

Helpers for every console test (A1, A2 and the web tests import them):

    url = make_tracker_db(tmp_path / "tracker.db")            # empty `events` table, Rasa's own DDL
    add_turn(url, "web-abc", "do you have lunch bags?", "search_products",
             replies=["Here is what I found:"], cards=[{"sku": "20725", "title": "LUNCH BAG", "price": "1.65",
             "currency": "GBP"}], slots={"search_result_count": 3.0, "last_query": "lunch bags"})
    add_agent_message(url, "web-abc", "Hi, Sam here")           # a staff reply, as Rasa stores it
    add_event(url, "web-abc", {"event": "pause"})               # anything else, raw

Events are the JSON `Event.as_dict()` makes in rasa/shared/core/events.py, stored the way
`SQLTrackerStore.save` stores them (type_name, timestamp, intent_name, action_name = the event's "name", data).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from catalog.db import make_engine
from catalog.migrate import upgrade
from tests.catalog.conftest import postgres_url

TRACKER_DDL = (
    "CREATE TABLE events (id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, "
    "timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT, PRIMARY KEY (id))",
    "CREATE INDEX ix_events_sender_id ON events (sender_id)",
)
"""What Rasa 3.6's `SQLTrackerStore` creates on SQLite (`Base.metadata.create_all`)."""
POSTGRES_TRACKER_DDL = (
    "CREATE SEQUENCE events_seq",
    "CREATE TABLE events (id INTEGER DEFAULT nextval('events_seq') NOT NULL, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), action_name VARCHAR(255), "
    "data TEXT, PRIMARY KEY (id))",
    "CREATE INDEX ix_events_sender_id ON events (sender_id)",
)
"""The same on PostgreSQL (Rasa gives `id` a sequence called `events_seq`)."""

__all__ = ["postgres_url"]  # a throwaway PostgreSQL database (re-exported fixture)

_engines: dict[str, Engine] = {}
_clock = itertools.count()


def tracker_engine(url: str) -> Engine:
    if url not in _engines:
        _engines[url] = create_engine(url, poolclass=NullPool)
    return _engines[url]


def make_tracker_db(path: Path) -> str:
    """An empty SQLite tracker store at `path`; returns its SQLAlchemy URL."""
    url = f"sqlite:///{path}"
    create_tracker_schema(url)
    return url


def create_tracker_schema(url: str) -> None:
    """Rasa's `events` table in the (empty) database at `url`: SQLite or PostgreSQL."""
    engine = tracker_engine(url)
    statements = POSTGRES_TRACKER_DDL if engine.dialect.name == "postgresql" else TRACKER_DDL
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def timestamp(at: datetime | float | None = None) -> float:
    """Epoch seconds; naive datetimes are UTC. Without `at`: now, a microsecond later than the last call."""
    if at is None:
        return time.time() + next(_clock) * 1e-6
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
    return float(at)


def add_event(url: str, sender_id: str, event: Mapping[str, Any]) -> int:
    """Store one event as `SQLTrackerStore.save` does; a missing timestamp is now. Returns the event id."""
    return add_events(url, sender_id, [event])[0]


def add_events(url: str, sender_id: str, events: Iterable[Mapping[str, Any]]) -> list[int]:
    ids = []
    with tracker_engine(url).begin() as conn:
        for event in events:
            data = {"timestamp": timestamp(), **event}
            parse_data = data.get("parse_data") or {}
            row = {
                "sender_id": sender_id,
                "type_name": data["event"],
                "timestamp": data["timestamp"],
                "intent_name": (parse_data.get("intent") or {}).get("name"),
                "action_name": data.get("name"),
                "data": json.dumps(data),
            }
            new_id = conn.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data) "
                    "VALUES (:sender_id, :type_name, :timestamp, :intent_name, :action_name, :data) RETURNING id"
                ),
                row,
            ).scalar_one()
            ids.append(int(new_id))
    return ids


def has_events(url: str, sender_id: str) -> bool:
    with tracker_engine(url).connect() as conn:
        return (
            conn.execute(text("SELECT 1 FROM events WHERE sender_id = :s LIMIT 1"), {"s": sender_id}).first()
            is not None
        )


# --- event builders (Rasa's JSON) ----------------------------------------------------------------------------------


def user_event(
    text_: str,
    intent: str,
    *,
    at: float,
    confidence: float = 0.93,
    entities: Sequence[Mapping[str, Any]] = (),
    sentiment: str | None = "neutral",
    sentiment_scores: Mapping[str, float] | None = None,
    channel: str = "rest",
) -> dict[str, Any]:
    parse_data: dict[str, Any] = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [dict(e) for e in entities],
        "text": text_,
        "message_id": uuid.uuid4().hex,
        "metadata": {},
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    if sentiment is not None:
        scores = dict(sentiment_scores or _scores(sentiment))
        parse_data["sentiment"] = {"label": sentiment, "score": scores[sentiment], "scores": scores}
        parse_data["entities"].append(
            {"entity": "sentiment", "value": sentiment, "confidence": scores[sentiment], "start": 0, "end": len(text_)}
        )
    return {
        "event": "user",
        "timestamp": at,
        "metadata": {},
        "text": text_,
        "parse_data": parse_data,
        "input_channel": channel,
        "message_id": parse_data["message_id"],
    }


def _scores(label: str) -> dict[str, float]:
    high, low = 0.8, 0.1
    return {name: (high if name == label else low) for name in ("negative", "neutral", "positive")}


def action_event(
    name: str, *, at: float, policy: str | None = "policy_1_TEDPolicy", confidence: float = 0.97
) -> dict[str, Any]:
    return {
        "event": "action",
        "timestamp": at,
        "name": name,
        "policy": policy,
        "confidence": confidence,
        "action_text": None,
        "hide_rule_turn": False,
    }


def bot_event(
    text_: str | None,
    *,
    at: float,
    utter_action: str | None = None,
    buttons: Sequence[Mapping[str, Any]] | None = None,
    custom: Mapping[str, Any] | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    return {
        "event": "bot",
        "timestamp": at,
        "metadata": {"utter_action": utter_action} if utter_action else {},
        "text": text_,
        "data": {
            "elements": None,
            "quick_replies": None,
            "buttons": [dict(b) for b in buttons] if buttons else None,
            "attachment": image,
            "image": image,
            "custom": dict(custom) if custom else None,
        },
    }


def slot_event(name: str, value: Any, *, at: float) -> dict[str, Any]:
    return {"event": "slot", "timestamp": at, "name": name, "value": value}


def session_start_events(at: float) -> list[dict[str, Any]]:
    return [
        action_event("action_session_start", at=at, policy=None, confidence=1.0),
        {"event": "session_started", "timestamp": at},
        action_event("action_listen", at=at, policy=None, confidence=1.0),
    ]


def _ticks(start: float) -> Iterator[float]:
    return (start + i * 0.001 for i in itertools.count())


def add_turn(
    url: str,
    sender_id: str,
    text_: str,
    intent: str,
    *,
    at: datetime | float | None = None,
    confidence: float = 0.93,
    entities: Sequence[Mapping[str, Any]] = (),
    sentiment: str | None = "neutral",
    sentiment_scores: Mapping[str, float] | None = None,
    channel: str = "rest",
    action: str | None = None,
    replies: Sequence[str] = ("OK.",),
    buttons: Sequence[Mapping[str, Any]] | None = None,
    cards: Sequence[Mapping[str, Any]] | None = None,
    slots: Mapping[str, Any] | None = None,
) -> list[int]:
    """One shopper turn as Rasa stores it: (a session start for a new sender,) the user event, the predicted action
    (default `utter_<intent>`), its slot events, its bot messages (`replies`; `buttons` on the last one; `cards` as a
    product-card message) and `action_listen`. Returns the new event ids."""
    start = timestamp(at)
    tick = _ticks(start)
    events: list[dict[str, Any]] = []
    if not has_events(url, sender_id):
        events += session_start_events(start - 0.01)
    events.append(
        user_event(
            text_,
            intent,
            at=next(tick),
            confidence=confidence,
            entities=entities,
            sentiment=sentiment,
            sentiment_scores=sentiment_scores,
            channel=channel,
        )
    )
    name = action or f"utter_{intent}"
    events.append(action_event(name, at=next(tick)))
    for slot, value in (slots or {}).items():
        events.append(slot_event(slot, value, at=next(tick)))
    for i, reply in enumerate(replies):
        last = i == len(replies) - 1
        utter = name if name.startswith("utter_") else "utter_reply"
        events.append(bot_event(reply, at=next(tick), utter_action=utter, buttons=buttons if last else None))
    if cards is not None:
        events.append(bot_event(None, at=next(tick), custom={"type": "product_cards", "products": list(cards)}))
    events.append(action_event("action_listen", at=next(tick)))
    return add_events(url, sender_id, events)


def add_agent_message(url: str, sender_id: str, text_: str, *, at: datetime | float | None = None) -> list[int]:
    """A staff reply as the console makes it through Rasa's API: slot `agent_message`, `utter_agent_message`."""
    tick = _ticks(timestamp(at))
    return add_events(
        url,
        sender_id,
        [
            slot_event("agent_message", text_, at=next(tick)),
            action_event("utter_agent_message", at=next(tick), policy=None, confidence=1.0),
            bot_event(text_, at=next(tick), utter_action="utter_agent_message"),
        ],
    )


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def catalog_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty SQLite catalog DB (the console's own tables live here)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def tracker_url(tmp_path: Path) -> Iterator[str]:
    """An empty SQLite tracker store."""
    url = make_tracker_db(tmp_path / "tracker.db")
    yield url
    engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()
