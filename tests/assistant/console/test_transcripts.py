"""Transcripts from a tracker store shaped like Rasa's: every kind of event becomes the right item."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from assistant.console.transcripts import TrackerReader, TrackerUnavailable, sentiment_of
from tests.assistant.console.conftest import (
    add_agent_message,
    add_event,
    add_turn,
    create_tracker_schema,
    make_tracker_db,
    timestamp,
    tracker_engine,
)

CARD = {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "currency": "GBP",
        "stock": {"level": "low", "label": "Only 3 left"}}  # fmt: skip
BUTTONS = [{"title": "Talk to a person", "payload": "/human_handoff"}]
SID = "web-6bX1"


def a_conversation(url: str) -> None:
    add_turn(
        url,
        SID,
        "hi there",
        "greet",
        at=datetime(2026, 11, 30, 9, 0),
        sentiment="positive",
        sentiment_scores={"negative": 0.05, "neutral": 0.15, "positive": 0.8},
        replies=["Hello! How can I help?"],
    )
    add_turn(
        url,
        SID,
        "red lunch bags please",
        "search_products",
        at=datetime(2026, 11, 30, 9, 1),
        action="action_search_products",
        entities=[{"entity": "product", "value": "lunch bags", "start": 8, "end": 18}],
        replies=["Here is what I found:"],
        cards=[CARD],
        slots={"search_result_count": 1.0, "last_query": "red lunch bags"},
    )
    add_turn(
        url,
        SID,
        '/share_photo{"image_id": "a1b2c3"}',
        "share_photo",
        at=datetime(2026, 11, 30, 9, 2),
        sentiment=None,
        action="action_photo_search",
        replies=["That looks like:"],
    )
    add_turn(
        url,
        SID,
        "this is useless!!",
        "nlu_fallback",
        at=datetime(2026, 11, 30, 9, 3),
        confidence=0.31,
        sentiment="negative",
        action="action_fallback",
        replies=["Sorry, could you rephrase?"],
        buttons=BUTTONS,
    )
    add_event(url, SID, {"event": "pause", "timestamp": timestamp(datetime(2026, 11, 30, 9, 4))})
    add_agent_message(url, SID, "Hi, Sam from the shop here <b>")
    add_event(url, SID, {"event": "resume"})
    add_event(url, SID, {"event": "active_loop", "name": "identify_form"})
    add_event(url, SID, {"event": "slot", "name": "customer_id", "value": "12346"})
    add_event(url, SID, {"event": "user_featurization", "use_text_for_featurization": False})  # hidden


def test_every_kind_of_event(tracker_url: str) -> None:
    a_conversation(tracker_url)
    add_turn(tracker_url, "someone-else", "hello", "greet")
    items = TrackerReader(tracker_url).transcript(SID)
    kinds = [i.kind for i in items]
    assert kinds[:2] == ["action", "status"]  # action_session_start, session_started (action_listen hidden)
    assert items[1].detail == "new session started"
    assert "someone-else" not in json.dumps([i.text for i in items])

    users = [i for i in items if i.kind == "user"]
    assert [u.text for u in users] == ["hi there", "red lunch bags please", None, "this is useless!!"]
    greet, search, photo, angry = users
    assert (greet.intent, greet.confidence, greet.sentiment, greet.channel) == ("greet", 0.93, "positive", "rest")
    assert greet.sentiment_score == pytest.approx(0.75)
    assert greet.at == datetime(2026, 11, 30, 9, 0)
    assert search.entities == ({"entity": "product", "value": "lunch bags", "start": 8, "end": 18},)  # no sentiment
    assert (photo.image_id, photo.detail, photo.sentiment) == ("a1b2c3", "shared a photo", None)
    assert (angry.intent, angry.confidence, angry.sentiment) == ("nlu_fallback", 0.31, "negative")
    assert angry.sentiment_score == pytest.approx(-0.7)

    bots = [i for i in items if i.kind == "bot"]
    cards = [b for b in bots if b.cards]
    assert len(cards) == 1 and cards[0].cards == (CARD,) and cards[0].text is None
    assert [b.buttons for b in bots if b.buttons] == [tuple(BUTTONS)]
    assert bots[0].text == "Hello! How can I help?" and bots[0].action == "utter_greet"

    agent = [i for i in items if i.kind == "agent"]
    assert [(a.text, a.action) for a in agent] == [("Hi, Sam from the shop here <b>", "utter_agent_message")]
    statuses = [i.detail for i in items if i.kind == "status"]
    assert statuses[1:] == [
        "conversation paused: a person holds it, the assistant stays silent",
        "conversation resumed: the assistant answers again",
        "form identify_form started",
    ]
    actions = [i.action for i in items if i.kind == "action"]
    assert "action_listen" not in actions
    assert {"action_search_products", "action_photo_search", "action_fallback", "utter_agent_message"} <= set(actions)
    slots = [i.detail for i in items if i.kind == "slot"]
    assert slots == ["search_result_count = 1.0", "last_query = red lunch bags", "customer_id = 12346"]
    assert [i.event_id for i in items] == sorted(i.event_id for i in items)


def test_unknown_missing_and_not_yet_created_stores(tmp_path: Path, tracker_url: str) -> None:
    assert TrackerReader(tracker_url).transcript("nobody") == []
    missing = tmp_path / "later" / "tracker.db"
    reader = TrackerReader(f"sqlite:///{missing}")
    assert reader.transcript("web-x") == [] and not missing.exists()  # never created by the console
    missing.parent.mkdir()
    empty = f"sqlite:///{missing}"
    tracker_engine(empty).connect().close()  # Rasa started, no table yet
    assert reader.transcript("web-x") == []
    create_tracker_schema(empty)
    add_turn(empty, "web-x", "hi", "greet")
    assert [i.text for i in reader.transcript("web-x") if i.kind == "user"] == ["hi"]


def test_the_reader_cannot_write(tracker_url: str) -> None:
    add_turn(tracker_url, SID, "hi", "greet")
    reader = TrackerReader(tracker_url)
    with reader.engine.connect() as conn, pytest.raises(Exception, match="readonly"):
        conn.execute(text("DELETE FROM events"))
    assert reader.transcript(SID)


def test_a_broken_row_does_not_hide_the_transcript(tracker_url: str) -> None:
    add_turn(tracker_url, SID, "hi", "greet")
    with tracker_engine(tracker_url).begin() as conn:
        conn.execute(
            text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'bot', 1.0, '{not json')"),
            {"s": SID},
        )
        conn.execute(
            text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'user', NULL, '[1, 2]')"),
            {"s": SID},
        )
    items = TrackerReader(tracker_url).transcript(SID)
    assert items[-2].kind == "bot" and items[-2].text is None
    assert items[-1].kind == "user" and items[-1].at == datetime(1970, 1, 1)


def test_bad_urls_say_what_is_expected() -> None:
    with pytest.raises(TrackerUnavailable, match="expected an SQLAlchemy URL"):
        TrackerReader("not a url")


@pytest.mark.parametrize(
    ("parse_data", "expected"),
    [
        ({"sentiment": {"label": "negative", "score": 0.9}}, ("negative", -0.9)),
        ({"sentiment": {"label": "neutral", "score": 0.9}}, ("neutral", 0.0)),
        ({"entities": [{"entity": "sentiment", "value": "positive", "confidence": 0.6}]}, ("positive", 0.6)),
        ({"sentiment": {"label": "positive", "scores": {"positive": 2.0, "negative": 0.0}}}, ("positive", 1.0)),
        ({"entities": []}, (None, None)),
    ],
)
def test_sentiment_shapes(parse_data: dict[str, object], expected: tuple[str | None, float | None]) -> None:
    assert sentiment_of(parse_data) == pytest.approx(expected) if expected[1] is not None else expected


@pytest.mark.postgres
def test_a_postgres_tracker_store(postgres_url: str) -> None:
    create_tracker_schema(postgres_url)
    a_conversation(postgres_url)
    reader = TrackerReader(postgres_url)
    items = reader.transcript(SID)
    assert [i.kind for i in items if i.kind in ("user", "agent")] == ["user"] * 4 + ["agent"]
    assert next(i for i in items if i.cards).cards == (CARD,)
    reader.dispose()
    tracker_engine(postgres_url).dispose()


def test_a_store_in_a_folder_with_spaces_and_signs(tmp_path: Path) -> None:
    folder = tmp_path / "shop data #1 (50% off)"
    folder.mkdir()
    url = make_tracker_db(folder / "tracker.db")
    add_turn(url, SID, "hello", "greet")
    assert [i.text for i in TrackerReader(url).transcript(SID) if i.kind == "user"] == ["hello"]
