"""`ShopAction`: the shape of every custom action, and what each one does first: notice how the shopper feels.

A negative message gets an empathetic line before the answer; after repeated negative messages (or a complaint) the
assistant offers a person, once, without waiting to be asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import context

NEGATIVE_BEFORE_OFFER = 2
"""Negative messages among the last four after which a person is offered."""
OFFER_COOLDOWN_EVENTS = 12
"""Events after an offer during which it is not repeated."""


def offered_human_recently(tracker: Tracker) -> bool:
    for event in tracker.events[-OFFER_COOLDOWN_EVENTS:]:
        if event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") == "utter_offer_human":
            return True
        if event.get("event") == "action" and event.get("name") == "action_handoff":
            return True
    return False


def acknowledge_feelings(dispatcher: CollectingDispatcher, tracker: Tracker, *, always: bool = False) -> bool:
    """Say sorry when the latest message is negative (or `always`); offer a person after repeated negative messages.
    Returns True when a person was offered."""
    label, _ = context.sentiment(tracker.latest_message)
    if always or label == "negative":
        dispatcher.utter_message(response="utter_empathy")
    if context.negative_streak(tracker) >= NEGATIVE_BEFORE_OFFER and not offered_human_recently(tracker):
        dispatcher.utter_message(response="utter_offer_human")
        return True
    return False


class ShopAction(Action, ABC):
    """A custom action: `act` does the work; `run` first acknowledges the shopper's feelings."""

    acknowledge: bool = True
    """False for actions that are about feelings themselves (complaint, handoff)."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if self.acknowledge:
            acknowledge_feelings(dispatcher, tracker)
        return await self.act(dispatcher, tracker, domain)

    @abstractmethod
    async def act(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        """The action's work (rasa-sdk registers only concrete subclasses)."""
