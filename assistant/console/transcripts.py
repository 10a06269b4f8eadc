"""Transcripts read straight from Rasa's SQL tracker store, as typed items the console renders.

Rasa 3.6's `SQLTrackerStore` keeps one row per event in a table `events(id, sender_id, type_name, timestamp,
intent_name, action_name, data)`, `data` being the event's JSON (`rasa.shared.core.events.Event.as_dict`). The
tracker store stays the one record of a conversation: the console never copies transcripts, it reads them here
(and summarises them in `assistant.console.index`). The event-reading helpers below are shared with the index so a
transcript and its summary agree on what a fallback, a photo or a staff reply is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

AGENT_UTTERANCE = "utter_agent_message"
"""The response staff replies go through (domain.yml); its bot events are the agent's words."""
AGENT_SLOT = "agent_message"
FALLBACK_ACTIONS = frozenset({"action_default_fallback", "action_fallback", "action_two_stage_fallback"})
FALLBACK_INTENT = "nlu_fallback"
HANDOFF_INTENT = "human_handoff"
HANDOFF_ACTION = "action_handoff"
HANDOFF_SLOT = "handoff_requested"
CUSTOMER_SLOT = "customer_id"
SEARCH_COUNT_SLOT = "search_result_count"
PHOTO_INTENT_PREFIX = "/share_photo"
PRODUCT_CARDS = "product_cards"
HIDDEN_ACTIONS = frozenset({"action_listen"})
"""Actions left out of transcripts: `action_listen` follows every turn and says nothing to staff."""
HIDDEN_EVENTS = frozenset({"user_featurization", "entities"})
MAX_DETAIL_CHARS = 500

Kind = Literal["user", "bot", "agent", "action", "status", "slot"]
STATUS_TEXT = {
    "pause": "conversation paused: a person holds it, the assistant stays silent",
    "resume": "conversation resumed: the assistant answers again",
    "session_started": "new session started",
    "restart": "conversation restarted",
    "rewind": "last user message undone",
    "undo": "last action undone",
    "reset_slots": "all slots reset",
    "export": "conversation exported",
}


class TrackerUnavailable(RuntimeError):
    """The tracker store could not be read; the message names it and the cause."""


@dataclass(frozen=True)
class TranscriptItem:
    event_id: int
    at: datetime
    kind: Kind
    text: str | None = None
    intent: str | None = None
    confidence: float | None = None
    entities: tuple[dict[str, Any], ...] = ()
    sentiment: str | None = None
    sentiment_score: float | None = None
    """P(positive) - P(negative) of the message, in [-1, 1] (negative: unhappy)."""
    action: str | None = None
    """The action (kind "action"), the response a bot message came from, or the slot's name (kind "slot")."""
    buttons: tuple[dict[str, Any], ...] = ()
    cards: tuple[dict[str, Any], ...] = ()
    """Product cards: {sku, title, price, currency, stock?: {level, label}}."""
    image_id: str | None = None
    """The uploaded photo a user message shared (`/share_photo{"image_id": ...}`)."""
    channel: str | None = None
    detail: str | None = None
    """Plain words for status events, `name = value` for slots, the policy for actions, other payloads as JSON."""


# --- reading events ------------------------------------------------------------------------------------------------


def event_time(timestamp: float | None) -> datetime:
    """Rasa's epoch-seconds timestamp as a naive UTC datetime (the project's convention)."""
    if timestamp is None or not math.isfinite(timestamp):
        timestamp = 0.0
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).replace(tzinfo=None)


def sentiment_of(parse_data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The message's sentiment label and signed score from `assistant.nlu.sentiment`'s output (or its entity)."""
    found = parse_data.get("sentiment")
    if isinstance(found, Mapping) and isinstance(found.get("label"), str):
        label = str(found["label"])
        scores = found.get("scores")
        if isinstance(scores, Mapping) and _number(scores.get("positive")) is not None:
            signed = (_number(scores.get("positive")) or 0.0) - (_number(scores.get("negative")) or 0.0)
        else:
            signed = _signed(label, _number(found.get("score")))
        return label, max(-1.0, min(1.0, signed))
    for entity in parse_data.get("entities") or ():
        if isinstance(entity, Mapping) and entity.get("entity") == "sentiment" and isinstance(entity.get("value"), str):
            label = str(entity["value"])
            return label, max(-1.0, min(1.0, _signed(label, _number(entity.get("confidence")))))
    return None, None


def _signed(label: str, score: float | None) -> float:
    weight = 1.0 if score is None else score
    return {"positive": weight, "negative": -weight}.get(label, 0.0)


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (tracker JSON is read defensively)."""
    return value if isinstance(value, Mapping) else {}


def string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def photo_image_id(text_: str | None) -> str | None:
    """The image id of a `/share_photo{"image_id": "..."}` message (what web and Telegram uploads send), else None."""
    if not text_ or not text_.startswith(PHOTO_INTENT_PREFIX):
        return None
    try:
        payload = json.loads(text_[len(PHOTO_INTENT_PREFIX) :] or "{}")
    except ValueError:
        return None
    image_id = payload.get("image_id") if isinstance(payload, dict) else None
    return image_id if isinstance(image_id, str) and image_id else None


def is_agent_message(data: Mapping[str, Any]) -> bool:
    metadata = data.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("utter_action") == AGENT_UTTERANCE


def product_cards(bot_data: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    custom = bot_data.get("custom")
    if isinstance(custom, Mapping) and custom.get("type") == PRODUCT_CARDS:
        return tuple(dict(p) for p in custom.get("products") or () if isinstance(p, Mapping))
    return ()


def _short(value: Any) -> str:
    encoded = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return encoded if len(encoded) <= MAX_DETAIL_CHARS else encoded[: MAX_DETAIL_CHARS - 1] + "…"


def to_item(event_id: int, data: Mapping[str, Any]) -> TranscriptItem | None:
    """One tracker event as a transcript item; None for bookkeeping events staff need not see."""
    kind = data.get("event")
    at = event_time(_number(data.get("timestamp")))
    if kind == "user":
        parse_data = mapping(data.get("parse_data"))
        intent = mapping(parse_data.get("intent"))
        text_ = string(data.get("text"))
        image_id = photo_image_id(text_)
        label, score = sentiment_of(parse_data)
        entities = tuple(
            dict(e)
            for e in parse_data.get("entities") or ()
            if isinstance(e, Mapping) and e.get("entity") != "sentiment"
        )
        return TranscriptItem(
            event_id,
            at,
            "user",
            text=None if image_id else text_,
            intent=string(intent.get("name")),
            confidence=_number(intent.get("confidence")),
            entities=entities,
            sentiment=label,
            sentiment_score=score,
            image_id=image_id,
            channel=string(data.get("input_channel")),
            detail="shared a photo" if image_id else ("button" if text_ and text_.startswith("/") else None),
        )
    if kind == "bot":
        bot_data = mapping(data.get("data"))
        buttons = tuple(dict(b) for b in bot_data.get("buttons") or () if isinstance(b, Mapping))
        cards = product_cards(bot_data)
        custom = bot_data.get("custom")
        extra = [f"image: {bot_data['image']}"] if bot_data.get("image") else []
        if custom and not cards:
            extra.append(_short(custom))
        return TranscriptItem(
            event_id,
            at,
            "agent" if is_agent_message(data) else "bot",
            text=string(data.get("text")),
            action=string(mapping(data.get("metadata")).get("utter_action")),
            buttons=buttons,
            cards=cards,
            detail="; ".join(extra) or None,
        )
    if kind == "action":
        name = data.get("name")
        if not isinstance(name, str) or name in HIDDEN_ACTIONS:
            return None
        return TranscriptItem(
            event_id,
            at,
            "action",
            action=name,
            confidence=_number(data.get("confidence")),
            detail=string(data.get("policy")),
        )
    if kind == "slot":
        name = data.get("name")
        if not isinstance(name, str) or name == AGENT_SLOT:  # the agent's words show as their message
            return None
        return TranscriptItem(event_id, at, "slot", action=name, detail=f"{name} = {_short(data.get('value'))}")
    if not isinstance(kind, str) or kind in HIDDEN_EVENTS:
        return None
    name = data.get("name")
    if kind == "active_loop":
        detail = f"form {name} started" if name else "form finished"
    elif kind == "action_execution_rejected":
        detail = f"action {name} rejected"
    elif kind == "followup":
        detail = f"follow-up action {name}"
    elif kind == "loop_interrupted":
        detail = "form interrupted" if data.get("is_interrupted") else "form continued"
    else:
        detail = STATUS_TEXT.get(kind, kind.replace("_", " "))
    return TranscriptItem(event_id, at, "status", detail=detail)


# --- the tracker store ---------------------------------------------------------------------------------------------


def tracker_engine(tracker_url: str) -> Engine:
    """An engine on the tracker store. SQLite is opened read-only (the console never writes Rasa's data through it)
    and is not created when missing; PostgreSQL connects with a timeout."""
    try:
        url = make_url(tracker_url)
    except ArgumentError as exc:
        raise TrackerUnavailable(
            f"TRACKER_DB_URL has value {tracker_url!r}; expected an SQLAlchemy URL such as "
            "'sqlite:///.state/tracker.db' or 'postgresql://postgres@127.0.0.1:5432/rasa'"
        ) from exc
    if url.drivername in ("postgresql", "postgres"):  # SQLAlchemy 2.1 reads a bare URL as psycopg 3: use psycopg2
        url = url.set(drivername="postgresql+psycopg2")
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        read_only = url.set(database=f"file:{quote(str(path.resolve()))}?mode=ro", query={"uri": "true"})
        return create_engine(read_only, connect_args={"timeout": 30})
    connect_args = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def sqlite_path(engine: Engine) -> Path | None:
    """The file of an SQLite tracker store (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    return Path(unquote(database.removeprefix("file:").split("?", 1)[0]))


@dataclass(frozen=True)
class StoredEvent:
    id: int
    sender_id: str
    type_name: str
    timestamp: float | None
    intent_name: str | None
    action_name: str | None
    data: dict[str, Any]


def decode(row: Sequence[Any]) -> StoredEvent:
    """An `events` row (id, sender_id, type_name, timestamp, intent_name, action_name, data) with its JSON parsed;
    unreadable JSON becomes an empty event of its type (one broken row must not hide a whole transcript)."""
    try:
        data = json.loads(row[6]) if row[6] else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("event", row[2])
    data.setdefault("timestamp", row[3])
    return StoredEvent(int(row[0]), str(row[1]), str(row[2]), row[3], row[4], row[5], data)


EVENT_COLUMNS = "id, sender_id, type_name, timestamp, intent_name, action_name, data"


class TrackerReader:
    """Reads conversations from Rasa's SQL tracker store (SQLite or PostgreSQL)."""

    def __init__(self, tracker_url: str) -> None:
        self.tracker_url = tracker_url
        self.engine = tracker_engine(tracker_url)
        self._has_table = False

    def ready(self) -> bool:
        """True once the store exists and has its `events` table (Rasa creates it at its first start)."""
        if self._has_table:
            return True
        path = sqlite_path(self.engine)
        if path is not None and not path.exists():
            return False
        try:
            self._has_table = inspect(self.engine).has_table("events")
        except SQLAlchemyError as exc:
            raise TrackerUnavailable(f"cannot open the tracker store {self.engine.url!r}: {exc}") from exc
        return self._has_table

    def events(self, sender_id: str) -> list[StoredEvent]:
        """All events of one conversation, in the order Rasa stored them."""
        if not self.ready():
            return []
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    text(f"SELECT {EVENT_COLUMNS} FROM events WHERE sender_id = :sender_id ORDER BY id"),
                    {"sender_id": sender_id},
                ).all()
        except SQLAlchemyError as exc:
            raise TrackerUnavailable(f"reading the tracker store {self.engine.url!r} failed: {exc}") from exc
        return [decode(row) for row in rows]

    def transcript(self, sender_id: str) -> list[TranscriptItem]:
        """Every turn of the conversation: user messages with intent, confidence, entities and sentiment; bot and
        staff messages with buttons and product cards; actions, slots and status changes. [] for unknown ids."""
        return list(_items(self.events(sender_id)))

    def dispose(self) -> None:
        self.engine.dispose()


def _items(events: list[StoredEvent]) -> Iterator[TranscriptItem]:
    for event in events:
        item = to_item(event.id, event.data)
        if item is not None:
            yield item
