"""A shopper's earlier messages, rebuilt from Rasa's tracker for the chat page (`GET /api/history`).

The tracker store is the one record of a conversation, so a reload shows what is there and nothing the page kept
itself. Items are the page's chat items (`messages.normalise`) plus `from`: "user", "bot" or "agent" (a person of
the shop, `agent` = their name when known), and `status` items where a person took over or handed back.
A photo the shopper sent (`/share_photo{"image_id": ...}`) is a `photo` item pointing at `/api/uploads/<id>`, never
the raw command; a button the shopper clicked shows its title.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from assistant.gateway.messages import normalise
from assistant.gateway.rasa_client import AGENT_MESSAGE_ACTION, AGENT_POLICY_PREFIX
from assistant.gateway.upload import SHARE_PHOTO_INTENT

MAX_ITEMS = 300
"""The most recent items sent to the page; a longer conversation starts from there."""
BOT_DATA_KEYS = ("buttons", "image", "attachment", "custom")

HistoryItem = dict[str, Any]


@dataclass(frozen=True)
class History:
    items: list[HistoryItem]
    handoff: str
    """"taken" while a person holds the conversation (Rasa paused), else "bot"."""


def photo_url(image_id: str) -> str:
    return f"/api/uploads/{image_id}"


def _share_photo_id(text: str) -> str | None:
    prefix = f"/{SHARE_PHOTO_INTENT}"
    if not text.startswith(prefix):
        return None
    try:
        entities = json.loads(text[len(prefix) :] or "{}")
    except ValueError:
        return None
    image_id = entities.get("image_id") if isinstance(entities, dict) else None
    return image_id if isinstance(image_id, str) and image_id.isalnum() else None


def _user_items(event: dict[str, Any], button_titles: dict[str, str]) -> Iterable[HistoryItem]:
    text = event.get("text")
    if not isinstance(text, str) or not text:
        return
    image_id = _share_photo_id(text)
    if image_id is not None:
        yield {"type": "photo", "url": photo_url(image_id), "from": "user"}
    elif text.startswith("/"):
        # a button payload: its title as the shopper saw it; failing that the intent's name in words
        title = button_titles.get(text) or text[1:].split("{", 1)[0].replace("_", " ")
        yield {"type": "text", "text": title, "from": "user"}
    else:
        yield {"type": "text", "text": text, "from": "user"}


def _bot_message(event: dict[str, Any]) -> dict[str, Any]:
    raw = event.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    message: dict[str, Any] = {"text": event.get("text")}
    for key in BOT_DATA_KEYS:
        if data.get(key) is not None:
            message[key] = data[key]
    if data.get("quick_replies") and not data.get("buttons"):
        message["buttons"] = data["quick_replies"]
    return message


def history(tracker: dict[str, Any], max_items: int = MAX_ITEMS) -> History:
    """The page's items for one tracker (as `GET /conversations/{id}/tracker?include_events=ALL` returns it)."""
    raw = tracker.get("events")
    events: list[Any] = raw if isinstance(raw, list) else []
    items: list[HistoryItem] = []
    button_titles: dict[str, str] = {}
    paused = False
    agent: str | None = None  # the person whose action ran last, from `execute`'s "staff:<name>" policy
    last_action: str | None = None
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("event")
        if kind in ("user", "pause", "resume", "restart"):
            last_action, agent = None, None  # a bot message after these belongs to a later action
        if kind == "restart":
            items, button_titles, paused = [], {}, False
        elif kind == "user":
            items.extend(_user_items(event, button_titles))
        elif kind == "action":
            last_action = event.get("name") if isinstance(event.get("name"), str) else None
            policy = event.get("policy")
            agent = (
                policy.removeprefix(AGENT_POLICY_PREFIX)
                if isinstance(policy, str) and policy.startswith(AGENT_POLICY_PREFIX)
                else None
            )
        elif kind == "bot":
            raw_metadata = event.get("metadata")
            metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
            utter = metadata.get("utter_action") or last_action
            from_agent = utter == AGENT_MESSAGE_ACTION
            for item in normalise([_bot_message(event)]):
                entry: HistoryItem = {**item, "from": "agent" if from_agent else "bot"}
                if from_agent:
                    entry["agent"] = agent
                if item["type"] == "buttons":
                    button_titles.update({b["payload"]: b["title"] for b in item["buttons"]})
                items.append(entry)
        elif kind == "pause" and not paused:
            paused = True
            items.append({"type": "status", "handoff": "taken", "agent": None, "from": "system"})
        elif kind == "resume" and paused:
            paused = False
            items.append({"type": "status", "handoff": "bot", "agent": None, "from": "system"})
    return History(items=items[-max_items:], handoff="taken" if paused else "bot")
