"""Builders for rasa-sdk trackers, as the action server would receive them from Rasa."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker


def make_tracker(text: str, entities: list[dict[str, Any]] | None = None, channel: str = "rest") -> Tracker:
    parse = {"text": text, "intent": {"name": "search_products", "confidence": 0.98}, "entities": entities or []}
    return Tracker(
        sender_id="test-shopper",
        slots={},
        latest_message=parse,
        events=[{"event": "user", "text": text, "parse_data": parse, "input_channel": channel}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
