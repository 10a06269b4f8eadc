"""`GET /api/events` (server-sent events to the shopper's page), the staff topic fed by `/api/chat`, and the console
mounted at `/staff/`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientResponse, web

from assistant.gateway.live import InProcessHub, shopper_topic, staff_topic
from assistant.gateway.notices import RestockNotices
from catalog.inventory import subscribe
from tests.assistant.gateway.conftest import WEB, GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import RasaStub, Reply
from tests.assistant.gateway.test_notices import tiny_shop


async def read_block(response: ClientResponse, timeout: float = 3.0) -> str:
    """The next SSE block (up to a blank line), without its trailing blank line."""
    raw = await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout)
    if not raw.endswith(b"\n\n"):
        raise AssertionError(f"the stream ended: {raw!r}")
    return raw.decode().rstrip("\n")


async def next_data(response: ClientResponse, timeout: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        block = await read_block(response, max(0.05, deadline - time.monotonic()))
        if block.startswith("data: "):
            data: dict[str, Any] = json.loads(block.removeprefix("data: "))
            return data


async def sender_of(gateway: GatewayClient, rasa: RasaStub) -> str:
    """This browser's sender id, as Rasa sees it (one chat message)."""
    await gateway.post("/api/chat", json={"text": "hello"})
    sender: str = rasa.received[-1]["sender"]
    return sender


async def test_the_stream_delivers_staff_replies_and_status_to_the_right_shopper(
    make_gateway: MakeGateway, rasa: RasaStub
) -> None:
    hub = InProcessHub()
    gateway = await make_gateway(hub=hub)
    sender = await sender_of(gateway, rasa)
    response = await gateway.get("/api/events")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-store"
    assert await read_block(response) == "retry: 3000\n: connected"
    await hub.publish(shopper_topic("web-someoneelse0000000000000"), {"type": "status", "handoff": "taken"})
    reply = {
        "type": "messages",
        "items": [{"type": "text", "text": "Hello from Alex", "from": "agent", "agent": "Alex"}],
    }
    await hub.publish(shopper_topic(sender), reply)
    await hub.publish(shopper_topic(sender), {"type": "status", "handoff": "bot", "agent": None})
    assert await next_data(response) == reply
    assert await next_data(response) == {"type": "status", "handoff": "bot", "agent": None}
    response.close()


async def test_idle_streams_get_heartbeats_and_stop_on_shutdown(make_gateway: MakeGateway) -> None:
    hub = InProcessHub()
    gateway = await make_gateway(hub=hub, heartbeat_s=0.2)
    response = await gateway.get("/api/events")
    await read_block(response)
    assert await read_block(response, timeout=2.0) == ": keep-alive"
    started = time.monotonic()
    await gateway.close()  # runs on_shutdown: open streams end instead of holding the shutdown
    assert time.monotonic() - started < 5.0
    assert sum(hub.subscribers(t) for t in list(hub._subscribers)) == 0


async def test_one_browser_may_hold_only_a_few_streams(make_gateway: MakeGateway) -> None:
    hub = InProcessHub()
    gateway = await make_gateway(hub=hub, max_streams_per_sender=2)
    await gateway.get("/")
    streams = [await gateway.get("/api/events") for _ in range(2)]
    assert all(s.status == 200 for s in streams)
    refused = await gateway.get("/api/events")
    assert refused.status == 429 and refused.headers["Retry-After"] == "30"
    assert (await refused.json())["error"]["code"] == "too_many_streams"
    streams[0].close()
    for _ in range(50):  # the server notices the closed stream at its next write (heartbeat) or at once
        await asyncio.sleep(0.05)
        again = await gateway.get("/api/events")
        if again.status == 200:
            again.close()
            break
        again.release()
    else:
        raise AssertionError("a closed stream kept its slot")


async def test_due_back_in_stock_notices_are_pushed(make_gateway: MakeGateway, rasa: RasaStub, tmp_path: Path) -> None:
    engine = tiny_shop(tmp_path)
    from catalog.inventory import adjust_stock

    adjust_stock(engine, "85123A", 5, "staff", "delivery arrived")
    gateway = await make_gateway(notices=RestockNotices(engine), notice_poll_s=0.2)
    await gateway.get("/")
    response = await gateway.get("/api/events")
    sender = await sender_of(gateway, rasa)
    subscribe(engine, sender, "rest", "85123A")
    event = await next_data(response, timeout=5.0)
    assert event["type"] == "messages" and "is back in stock" in event["items"][0]["text"]
    response.close()


async def test_every_shopper_message_and_bot_answer_reaches_the_staff_topic(
    make_gateway: MakeGateway, rasa: RasaStub
) -> None:
    hub = InProcessHub()
    gateway = await make_gateway(hub=hub)
    sender = await sender_of(gateway, rasa)
    async with hub.subscribe(staff_topic(sender)) as events:
        rasa.script(Reply(json=[{"recipient_id": sender, "text": "We have <3> bags"}]))
        await gateway.post("/api/chat", json={"text": "red <b>bag</b>"})
        said = await asyncio.wait_for(anext(events), 2)
        answered = await asyncio.wait_for(anext(events), 2)
    assert said["type"] == "shopper_message" and said["text"] == "red <b>bag</b>" and "T" in said["at"]
    assert answered["type"] == "bot_messages"
    assert answered["items"] == [{"type": "text", "text": "We have <3> bags"}]


async def test_while_a_person_holds_the_conversation_the_bot_is_silent(
    gateway: GatewayClient, rasa: RasaStub, config: Any
) -> None:
    from assistant.gateway import RasaClient

    sender = await sender_of(gateway, rasa)
    async with RasaClient(config) as client:
        await client.pause(sender)
        messages = await client.say_as_agent(sender, "Hello from Alex", agent="Alex")
        assert messages == [{"recipient_id": sender, "text": "Hello from Alex"}]
        quiet = await gateway.post("/api/chat", json={"text": "are you there?"})
        assert (await quiet.json()) == {"messages": []}
        body = await (await gateway.get("/api/history")).json()
        assert body["handoff"] == "taken"
        assert {"type": "text", "text": "Hello from Alex", "from": "agent", "agent": "Alex"} in body["messages"]
        await client.resume(sender)
    assert (await (await gateway.get("/api/history")).json())["handoff"] == "bot"
    assert (await (await gateway.post("/api/chat", json={"text": "hi"})).json())["messages"] != []


async def test_the_console_is_mounted_and_keeps_its_own_errors_and_headers(make_gateway: MakeGateway) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<h1>Conversations</h1>", content_type="text/html")

    async def forbidden(request: web.Request) -> web.Response:
        raise web.HTTPForbidden(text="<p>Admins only</p>", content_type="text/html")

    async def own_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["Content-Security-Policy"] = "default-src 'self'; script-src 'self'"

    console = web.Application()
    console.router.add_get("/", page)
    console.router.add_get("/audit", forbidden)
    console.on_response_prepare.append(own_headers)
    gateway = await make_gateway(console=console)
    ok = await gateway.get("/staff/")
    assert ok.status == 200 and "Conversations" in await ok.text()
    assert ok.headers["Content-Security-Policy"] == "default-src 'self'; script-src 'self'"
    denied = await gateway.get("/staff/audit")
    assert denied.status == 403 and denied.content_type == "text/html"
    assert await denied.text() == "<p>Admins only</p>"
    assert (await gateway.get("/api/nothing")).content_type == "application/json"  # the rest stays JSON
    assert WEB != "staff"


async def test_with_redis_a_reply_published_by_another_gateway_process_reaches_the_page(
    make_gateway: MakeGateway, rasa: RasaStub
) -> None:
    from assistant.gateway.live import RedisHub

    here, elsewhere = RedisHub("redis://127.0.0.1:6379/0"), RedisHub("redis://127.0.0.1:6379/0")
    try:
        gateway = await make_gateway(hub=here)
        sender = await sender_of(gateway, rasa)
        response = await gateway.get("/api/events")
        await read_block(response)
        await asyncio.sleep(0.2)  # the stream's SUBSCRIBE reaches Redis
        reply = {"type": "messages", "items": [{"type": "text", "text": "Hi", "from": "agent", "agent": "Sam"}]}
        await elsewhere.publish(shopper_topic(sender), reply)
        assert await next_data(response) == reply
        response.close()
    finally:
        await elsewhere.aclose()
