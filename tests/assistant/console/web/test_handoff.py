"""Live handoff through the console against a stand-in for Rasa's HTTP API: take over, reply, hand back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import text

from assistant.console.transcripts import TrackerReader
from assistant.gateway.live import STAFF_QUEUE_TOPIC, shopper_topic, staff_topic
from tests.assistant.console.conftest import add_turn
from tests.assistant.console.web.conftest import Env

SID = "web-handoff-1"


class Collector:
    """Everything the hub publishes on some topics, as a test subscriber would see it."""

    def __init__(self, env: Env, *topics: str) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {topic: [] for topic in topics}
        self._tasks: list[asyncio.Task[None]] = []
        self._env = env

    async def __aenter__(self) -> Collector:
        for topic in self.events:
            ready = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._listen(topic, ready)))
            await ready.wait()
        return self

    async def _listen(self, topic: str, ready: asyncio.Event) -> None:
        async with self._env.hub.subscribe(topic) as events:
            ready.set()
            async for event in events:
                self.events[topic].append(event)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def queue_status(env: Env) -> list[tuple[str, str | None]]:
    with env.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT status, taken_by FROM handoffs WHERE sender_id = :s ORDER BY id"), {"s": SID}
            )
        ]


def audit(env: Env) -> list[tuple[str, str, str]]:
    with env.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT actor, action, details FROM audit_log WHERE target = :s ORDER BY id"), {"s": SID}
            )
        ]


async def test_take_over_reply_and_hand_back(env: Env) -> None:
    add_turn(env.tracker_url, SID, "I want to talk to a person", "human_handoff")
    token = await env.login("alex")
    async with Collector(env, shopper_topic(SID), staff_topic(SID), STAFF_QUEUE_TOPIC) as seen:
        taken = await env.post(f"/staff/conversations/{SID}/takeover", {}, token)
        assert taken.status == 303 and taken.headers["Location"].endswith("?done=taken")
        assert queue_status(env) == [("taken", "alex")]
        _, page = await env.page(f"/staff/conversations/{SID}")
        assert 'id="reply-text"' in page and 'id="reply-send"' in page and 'id="handback"' in page
        assert 'id="takeover"' not in page

        replied = await env.post(f"/staff/conversations/{SID}/reply", {"text": "Hello from Alex"}, token)
        assert replied.status == 303
        back = await env.post(f"/staff/conversations/{SID}/handback", {}, token)
        assert back.status == 303 and back.headers["Location"].endswith("?done=handed_back")
        assert queue_status(env) == [("closed", "alex")]

    # Rasa got: pause, three agent lines (slot + execute utter_agent_message, on the shopper's latest channel), resume
    sent = env.rasa.events_sent(SID)
    assert sent[0] == {"event": "pause"} and sent[-1] == {"event": "resume"}
    said = [e["value"] for e in sent if e.get("event") == "slot" and e.get("name") == "agent_message"]
    assert said[0] == "Alex from the shop has joined the chat."
    assert said[1] == "Hello from Alex"
    assert "handed you back" in said[2]
    executes = [c for c in env.rasa.calls if c["path"] == "execute"]
    assert len(executes) == 3
    assert all(
        c["body"]["name"] == "utter_agent_message" and c["query"]["output_channel"] == "latest" for c in executes
    )
    assert all(c["body"]["policy"] == "staff:Alex" for c in executes)

    shopper = seen.events[shopper_topic(SID)]
    assert shopper[0] == {"type": "status", "handoff": "taken", "agent": "Alex"}
    texts = [item["text"] for e in shopper if e["type"] == "messages" for item in e["items"]]
    assert texts[1] == "Hello from Alex"
    assert all(
        item["from"] == "agent" and item["agent"] == "Alex"
        for e in shopper
        if e["type"] == "messages"
        for item in e["items"]
    )
    assert shopper[-1] == {"type": "status", "handoff": "bot", "agent": None}
    assert seen.events[STAFF_QUEUE_TOPIC] == [{"type": "queue_changed"}, {"type": "queue_changed"}]
    assert any(e["type"] == "bot_messages" for e in seen.events[staff_topic(SID)])

    steps = [(actor, action, details) for actor, action, details in audit(env) if action != "view_transcript"]
    assert [(actor, action) for actor, action, _ in steps] == [
        ("alex", "takeover"),
        ("alex", "reply"),
        ("alex", "handback"),
    ]
    assert all("Hello" not in details for _, _, details in steps)  # counts, never the text
    assert json.loads(steps[1][2]) == {"chars": len("Hello from Alex")}

    # Every step is in the transcript: pause, the agent's lines, resume (as Rasa stores them)
    kinds = [(item.kind, item.text) for item in TrackerReader(env.tracker_url).transcript(SID)]
    agent_lines = [t for k, t in kinds if k == "agent"]
    assert "Hello from Alex" in agent_lines
    _, page = await env.page(f"/staff/conversations/{SID}")
    assert "Hello from Alex" in page and 'id="takeover"' in page


async def test_only_the_holder_replies_and_hands_back(env: Env) -> None:
    add_turn(env.tracker_url, SID, "hello", "greet")
    alex = await env.login("alex")
    early = await env.post(f"/staff/conversations/{SID}/reply", {"text": "hi"}, alex)
    assert early.status == 409 and "Take the conversation over first" in await early.text()
    assert (await env.post(f"/staff/conversations/{SID}/takeover", {}, alex)).status == 303
    env.client.session.cookie_jar.clear()
    root = await env.login("root")
    _, page = await env.page(f"/staff/conversations/{SID}")
    assert "alex holds this conversation" in page and 'id="takeover"' not in page
    for path, data in [("takeover", {}), ("reply", {"text": "me too"}), ("handback", {})]:
        response = await env.post(f"/staff/conversations/{SID}/{path}", data, root)
        assert response.status == 409, path
    assert queue_status(env) == [("taken", "alex")]
    empty = await env.post(f"/staff/conversations/{SID}/reply", {"text": "   "}, root)
    assert empty.status == 400


async def test_rasa_down_means_no_takeover_and_a_waiting_shopper_stays_waiting(env: Env) -> None:
    add_turn(env.tracker_url, SID, "hello", "greet")
    with env.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO handoffs (sender_id, channel, reason, status, requested_at) "
                 "VALUES (:s, 'rest', 'asked', 'waiting', '2024-05-01 10:00:00')"),
            {"s": SID},
        )  # fmt: skip
    token = await env.login("alex")
    env.rasa.fail = True
    response = await env.post(f"/staff/conversations/{SID}/takeover", {}, token)
    assert response.status == 503
    assert "could not be paused" in await response.text()
    assert queue_status(env) == [("waiting", None)]  # untouched: still in the queue for the next agent
    assert "takeover" not in [action for _, action, _ in audit(env)]
    env.rasa.fail = False
    assert (await env.post(f"/staff/conversations/{SID}/takeover", {}, token)).status == 303
    assert queue_status(env) == [("taken", "alex")]


async def test_an_admin_can_release_a_conversation_an_agent_left_held(env: Env) -> None:
    add_turn(env.tracker_url, SID, "hello", "greet")
    alex = await env.login("alex")
    assert (await env.post(f"/staff/conversations/{SID}/takeover", {}, alex)).status == 303
    refused = await env.post(f"/staff/conversations/{SID}/handback", {"force": "yes"}, alex)
    assert refused.status == 403  # forcing is for admins
    env.client.session.cookie_jar.clear()
    root = await env.login("root")
    _, page = await env.page(f"/staff/conversations/{SID}")
    assert 'id="force-handback"' in page
    assert (await env.post(f"/staff/conversations/{SID}/handback", {}, root)).status == 409  # not without force
    released = await env.post(f"/staff/conversations/{SID}/handback", {"force": "yes"}, root)
    assert released.status == 303
    assert queue_status(env) == [("closed", "alex")]
    assert env.rasa.events_sent(SID)[-1] == {"event": "resume"}
    forced = [json.loads(details) for actor, action, details in audit(env) if action == "handback"]
    assert forced == [{"forced": True, "holder": "alex"}]


async def test_reply_too_long_is_refused(env: Env) -> None:
    add_turn(env.tracker_url, SID, "hello", "greet")
    token = await env.login("alex")
    await env.post(f"/staff/conversations/{SID}/takeover", {}, token)
    response = await env.post(f"/staff/conversations/{SID}/reply", {"text": "x" * 2001}, token)
    assert response.status == 413 and "at most 2000 characters" in await response.text()


async def test_live_stream_relays_the_staff_topic(env: Env) -> None:
    await env.login("alex")
    response = await env.client.get(f"/staff/conversations/{SID}/live", headers={"Accept": "text/event-stream"})
    assert response.status == 200 and response.headers["Content-Type"] == "text/event-stream"
    assert await response.content.readline() == b"retry: 3000\n"
    for _ in range(100):
        if env.hub.subscribers(staff_topic(SID)):
            break
        await asyncio.sleep(0.01)
    event = {"type": "shopper_message", "text": "<b>hi</b>", "at": "2024-01-01T00:00:00+00:00"}
    await env.hub.publish(staff_topic(SID), event)
    lines = []
    while len(lines) < 2 or lines[-1] != b"\n":
        lines.append(await asyncio.wait_for(response.content.readline(), 5))
    data = [line for line in lines if line.startswith(b"data: ")]
    assert json.loads(data[0][6:]) == event
    response.close()
    for _ in range(200):  # the subscription ends when the page goes away
        if not env.hub.subscribers(staff_topic(SID)):
            break
        await asyncio.sleep(0.01)
    assert env.hub.subscribers(staff_topic(SID)) == 0
