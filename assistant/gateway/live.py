"""Live events between the gateway's handlers and open pages: a staff reply reaching the shopper's page, a
shopper's message reaching the console's open transcript, the handoff queue changing.

Handlers `publish` a JSON-able dict on a topic; a page's server-sent-events stream `subscribe`s to one. Publishing
never waits for subscribers: each subscriber has a bounded queue, and a subscriber that does not keep up loses its
oldest events (a page that is that far behind reloads its history anyway). Two implementations of one interface:
`InProcessHub` for one gateway process (the default), `RedisHub` when several gateway processes serve one shop
(`REDIS_URL`): Redis pub/sub carries the events between them. Topics: `shopper_topic`, `staff_topic`,
`STAFF_QUEUE_TOPIC`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from assistant.gateway.errors import GatewayError

logger = logging.getLogger(__name__)

STAFF_QUEUE_TOPIC = "staff:queue"
"""The handoff queue changed: `{"type": "queue_changed"}`."""
SUBSCRIBER_QUEUE = 256
"""Events one subscriber may have waiting; past that its oldest are dropped."""

Event = dict[str, Any]


def shopper_topic(sender_id: str) -> str:
    """Events for one shopper's open chat page(s): `messages` (staff replies) and `status` (handoff)."""
    return f"shopper:{sender_id}"


def staff_topic(sender_id: str) -> str:
    """Events for the console's open transcript of one conversation: `shopper_message`, `bot_messages`."""
    return f"staff:{sender_id}"


class LiveUnavailable(GatewayError):
    """The live channel (Redis) cannot be reached; the message says what to check."""


class LiveHub(Protocol):
    async def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, topic: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...


def _put_dropping_oldest(queue: asyncio.Queue[Event], event: Event) -> None:
    while True:
        try:
            queue.put_nowait(event)
            return
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()


async def _drain(queue: asyncio.Queue[Event]) -> AsyncIterator[Event]:
    while True:
        yield await queue.get()


class InProcessHub:
    """Topics and subscribers in this process's memory (one gateway process serves every page)."""

    def __init__(self, queue_size: int = SUBSCRIBER_QUEUE) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        # A JSON round trip: subscribers get their own copy, and a non-JSON-able event fails here, as with Redis.
        copy = json.loads(json.dumps(event))
        for queue in list(self._subscribers.get(topic, ())):
            _put_dropping_oldest(queue, copy)

    def subscribers(self, topic: str) -> int:
        """How many subscriptions `topic` has now (tests and diagnostics)."""
        return len(self._subscribers.get(topic, ()))

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield _drain(queue)
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[topic]

    async def aclose(self) -> None:
        """Nothing to release (the same interface as `RedisHub`)."""


class RedisHub:
    """Redis pub/sub: every gateway process publishing to and subscribing from the same Redis (`REDIS_URL`).

    Publishing uses one shared client with short timeouts; each subscription has its own pub/sub connection, read
    with a 1 s poll so a closed page is noticed and the connection returned promptly. A Redis that is down makes
    `publish` log a warning and return (the conversation itself goes on; pages catch up from their history) and
    `subscribe` raise `LiveUnavailable`.
    """

    def __init__(self, url: str, timeout_s: float = 3.0, queue_size: int = SUBSCRIBER_QUEUE) -> None:
        self._url = url
        self._queue_size = queue_size
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, health_check_interval=15
        )

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        payload = json.dumps(event)
        try:
            await self._redis.publish(topic, payload)
        except (RedisError, OSError) as exc:
            logger.warning(
                "live event on %s not sent: Redis at %s: %s; is redis-server running?", topic, self._url, exc
            )

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[Event]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(topic)
        except (RedisError, OSError) as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise LiveUnavailable(
                f"cannot subscribe to {topic} at {self._url}: {exc}; is redis-server running?"
            ) from exc
        try:
            yield self._read(pubsub)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(topic)
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read(self, pubsub: Any) -> AsyncIterator[Event]:
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except (RedisError, OSError) as exc:
                raise LiveUnavailable(f"lost the subscription at {self._url}: {exc}") from exc
            if message is None or message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                logger.warning("dropped a live event that is not JSON: %.100r", message.get("data"))
                continue
            if isinstance(event, dict):
                yield event

    async def aclose(self) -> None:
        await self._redis.aclose()


def make_hub(redis_url: str | None) -> InProcessHub | RedisHub:
    """`RedisHub(redis_url)` when set (several gateway processes), else `InProcessHub()`."""
    return RedisHub(redis_url) if redis_url else InProcessHub()
