"""The live hub contract, run against both implementations: `InProcessHub` and `RedisHub` on the real Redis at
127.0.0.1:6379 (a test fails, not skips, when Redis is not running: `apt-get install redis-server`)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant.gateway.live import (
    STAFF_QUEUE_TOPIC,
    InProcessHub,
    LiveUnavailable,
    RedisHub,
    make_hub,
    shopper_topic,
    staff_topic,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["in-process", "redis"])
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[InProcessHub | RedisHub]:
    made: InProcessHub | RedisHub = (
        InProcessHub(queue_size=8) if request.param == "in-process" else RedisHub(REDIS_URL, queue_size=8)
    )
    yield made
    await made.aclose()


def topic() -> str:
    return shopper_topic("web-" + secrets.token_urlsafe(18))  # unique: tests never see each other's events


async def next_event(events: AsyncIterator[dict[str, Any]], timeout: float = 3.0) -> dict[str, Any]:
    return await asyncio.wait_for(anext(events), timeout)


async def settle(hub: InProcessHub | RedisHub) -> None:
    """Redis subscriptions are live once SUBSCRIBE is acknowledged; give the server a moment."""
    if isinstance(hub, RedisHub):
        await asyncio.sleep(0.1)


def test_topic_names() -> None:
    assert shopper_topic("web-abc") == "shopper:web-abc"
    assert staff_topic("web-abc") == "staff:web-abc"
    assert STAFF_QUEUE_TOPIC == "staff:queue"
    assert isinstance(make_hub(None), InProcessHub)


async def test_subscribers_get_events_of_their_topic_only_in_order(hub: InProcessHub | RedisHub) -> None:
    mine, other = topic(), topic()
    async with hub.subscribe(mine) as events, hub.subscribe(mine) as second:
        await settle(hub)
        await hub.publish(other, {"type": "messages", "items": ["not for me"]})
        for i in range(3):
            await hub.publish(mine, {"type": "messages", "items": [{"type": "text", "text": f"<b>{i}</b>"}]})
        got = [await next_event(events) for _ in range(3)]
        assert [e["items"][0]["text"] for e in got] == ["<b>0</b>", "<b>1</b>", "<b>2</b>"]
        assert (await next_event(second))["items"][0]["text"] == "<b>0</b>"  # every subscriber gets each event


async def test_publishing_without_subscribers_is_fine_and_events_are_copies(hub: InProcessHub | RedisHub) -> None:
    await hub.publish(topic(), {"type": "status", "handoff": "bot", "agent": None})
    name = topic()
    async with hub.subscribe(name) as events:
        await settle(hub)
        event: dict[str, Any] = {"type": "status", "handoff": "taken", "agent": "Alex"}
        await hub.publish(name, event)
        event["agent"] = "changed after publishing"
        assert await next_event(events) == {"type": "status", "handoff": "taken", "agent": "Alex"}


async def test_an_in_process_subscriber_that_does_not_read_loses_only_its_oldest_events() -> None:
    """(With Redis the events wait in the subscription's connection; the gateway's stream reads them as they come.)"""
    hub = InProcessHub(queue_size=8)
    name = topic()
    async with hub.subscribe(name) as events:
        for i in range(20):
            await hub.publish(name, {"n": i})
        got = [(await next_event(events))["n"] for _ in range(8)]
    assert got == list(range(12, 20))
    assert hub.subscribers(name) == 0  # unsubscribed on exit


async def test_a_non_json_event_is_refused_at_publish(hub: InProcessHub | RedisHub) -> None:
    with pytest.raises(TypeError):
        await hub.publish(topic(), {"when": object()})


async def test_redis_down_means_a_warning_on_publish_and_live_unavailable_on_subscribe(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = RedisHub("redis://127.0.0.1:9/0", timeout_s=0.5)
    try:
        await down.publish(topic(), {"type": "queue_changed"})
        assert "is redis-server running?" in caplog.text
        with pytest.raises(LiveUnavailable, match="redis-server"):
            async with down.subscribe(topic()):
                pass
    finally:
        await down.aclose()


async def test_two_redis_hubs_are_two_gateway_processes_sharing_events() -> None:
    one, two = RedisHub(REDIS_URL), RedisHub(REDIS_URL)
    try:
        name = topic()
        async with two.subscribe(name) as events:
            await asyncio.sleep(0.1)
            await one.publish(name, {"type": "queue_changed"})
            assert await next_event(events) == {"type": "queue_changed"}
    finally:
        await one.aclose()
        await two.aclose()
