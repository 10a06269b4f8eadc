"""Live handoff: an agent takes a conversation over from the assistant, talks to the shopper, and hands it back.

Each step uses Rasa's own machinery so it works on every channel and is part of the transcript:
- take over: the queue row becomes `taken` (`HandoffQueue.take`), Rasa's tracker gets a `pause` event (Rasa then
  logs the shopper's messages with their NLU parse but predicts nothing: the bot is silent), and the agent's
  greeting goes out as `utter_agent_message`;
- reply: `utter_agent_message` with the text in the `agent_message` slot, delivered by Rasa on the shopper's
  channel (Telegram sends it itself; for the web chat Rasa returns it and we push it to the shopper's page);
- hand back: a goodbye line, a `resume` event, the queue row `closed`.
Every step is audited (never with the message text) and announced on the live hub: the shopper's page (status and
messages), the open transcript in other consoles (`staff:<id>`) and the queue page (`staff:queue`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assistant.console.accounts import Account, Role
from assistant.console.audit import AuditLog
from assistant.console.handoffs import HandoffConflict, HandoffQueue, QueuedHandoff
from assistant.gateway.errors import GatewayError
from assistant.gateway.live import STAFF_QUEUE_TOPIC, LiveHub, shopper_topic, staff_topic
from assistant.gateway.messages import normalise
from assistant.gateway.rasa_client import RasaClient

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 2000
JOIN_LINE = "{name} from the shop has joined the chat."
LEAVE_LINE = "{name} has handed you back to the shop assistant. Thanks for your patience!"


class HandoffError(RuntimeError):
    """A handoff step could not be done; `status` is the HTTP status to answer and the message says why/what next."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StepResult:
    handoff: QueuedHandoff | None
    delivered: int
    """How many messages went out (0 when Rasa's channel delivered them itself, e.g. Telegram)."""
    warning: str | None = None


class HandoffService:
    def __init__(self, queue: HandoffQueue, rasa: RasaClient, hub: LiveHub, audit: AuditLog) -> None:
        self._queue = queue
        self._rasa = rasa
        self._hub = hub
        self._audit = audit

    async def take_over(self, sender_id: str, agent: Account, channel: str = "rest") -> StepResult:
        """Hold the conversation: Rasa paused (bot silent), queue row taken, greeting sent. Raises `HandoffError`.

        Rasa is paused before the queue row changes, so a failure leaves the queue as it was (a waiting shopper
        stays waiting); a conflict found after pausing leaves Rasa paused, as the other agent holds it."""
        current = await asyncio.to_thread(self._queue.current, sender_id)
        if current is not None and current.status == "taken" and current.taken_by != agent.username:
            raise HandoffError(f"{current.taken_by} already holds this conversation.")
        try:
            await self._rasa.pause(sender_id)
        except GatewayError as exc:
            raise HandoffError(
                f"The assistant could not be paused, so the conversation was not taken over ({exc}). "
                "Check that Rasa is running (make run) and try again.",
                503,
            ) from exc
        try:
            held = await asyncio.to_thread(self._queue.take, sender_id, agent.username, channel)
        except HandoffConflict as exc:
            raise HandoffError(f"Someone else took this conversation at the same moment: {exc}") from exc
        await asyncio.to_thread(self._audit.record, agent.username, "takeover", sender_id, {"channel": channel})
        await self._publish_status(sender_id, "taken", agent.display_name)
        warning = None
        try:
            sent = await self._say(sender_id, agent, JOIN_LINE.format(name=agent.display_name))
        except GatewayError as exc:
            logger.warning("takeover greeting not delivered: %s", exc)
            sent, warning = 0, "You hold the conversation, but the greeting did not reach the shopper. Say hello."
        await self._hub.publish(STAFF_QUEUE_TOPIC, {"type": "queue_changed"})
        return StepResult(held, sent, warning)

    async def reply(self, sender_id: str, agent: Account, text: str) -> StepResult:
        """Send `text` to the shopper as `agent`; only the agent holding the conversation may. Raises `HandoffError`."""
        text = text.strip()
        if not text:
            raise HandoffError("Type a message before sending.", 400)
        if len(text) > MAX_REPLY_CHARS:
            raise HandoffError(f"A reply can be at most {MAX_REPLY_CHARS} characters; yours has {len(text)}.", 413)
        held = await self._held_by(sender_id, agent)
        try:
            sent = await self._say(sender_id, agent, text)
        except GatewayError as exc:
            raise HandoffError(
                f"The reply was not delivered: the assistant is unreachable ({exc}). Try again in a moment.", 503
            ) from exc
        await asyncio.to_thread(self._audit.record, agent.username, "reply", sender_id, {"chars": len(text)})
        return StepResult(held, sent)

    async def hand_back(self, sender_id: str, agent: Account, force: bool = False) -> StepResult:
        """Say goodbye, resume Rasa, close the queue row. `force` (admins only): release a conversation another
        agent holds, e.g. one left held when that agent went home (the bot would stay silent). Raises `HandoffError`."""
        if force and agent.role != Role.ADMIN:
            raise HandoffError("Only an admin can release a conversation someone else holds.", 403)
        current = await self._held_by(sender_id, agent, allow_other=force)
        warning = None
        try:
            sent = await self._say(sender_id, agent, LEAVE_LINE.format(name=agent.display_name))
        except GatewayError as exc:
            logger.warning("hand-back goodbye not delivered: %s", exc)
            sent, warning = 0, "The goodbye line did not reach the shopper."
        try:
            await self._rasa.resume(sender_id)
        except GatewayError as exc:
            raise HandoffError(
                f"The assistant could not be resumed ({exc}); the conversation is still held. Try again.", 503
            ) from exc
        closed = await asyncio.to_thread(self._queue.release, sender_id, agent.username, force=force)
        details = {"forced": True, "holder": current.taken_by} if force and current.taken_by != agent.username else None
        await asyncio.to_thread(self._audit.record, agent.username, "handback", sender_id, details)
        await self._publish_status(sender_id, "bot", None)
        await self._hub.publish(STAFF_QUEUE_TOPIC, {"type": "queue_changed"})
        return StepResult(closed, sent, warning)

    async def _held_by(self, sender_id: str, agent: Account, allow_other: bool = False) -> QueuedHandoff:
        current = await asyncio.to_thread(self._queue.current, sender_id)
        if current is None or current.status != "taken":
            raise HandoffError("Take the conversation over first: the assistant is answering this shopper.")
        if current.taken_by != agent.username and not allow_other:
            raise HandoffError(f"{current.taken_by} holds this conversation; only they can reply or hand it back.")
        return current

    async def _say(self, sender_id: str, agent: Account, text: str) -> int:
        """Send one agent line through Rasa; push what Rasa hands back to the shopper's page and open consoles."""
        messages = await self._rasa.say_as_agent(sender_id, text, agent.display_name)
        items: list[dict[str, Any]] = [
            {**item, "from": "agent", "agent": agent.display_name} for item in normalise(messages)
        ]
        if items:
            await self._hub.publish(shopper_topic(sender_id), {"type": "messages", "items": items})
        echo = items or [{"type": "text", "text": text, "from": "agent", "agent": agent.display_name}]
        await self._hub.publish(staff_topic(sender_id), {"type": "bot_messages", "items": echo, "at": _now()})
        return len(items)

    async def _publish_status(self, sender_id: str, handoff: str, agent: str | None) -> None:
        event = {"type": "status", "handoff": handoff, "agent": agent}
        await self._hub.publish(shopper_topic(sender_id), event)
        await self._hub.publish(staff_topic(sender_id), {**event, "at": _now()})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
