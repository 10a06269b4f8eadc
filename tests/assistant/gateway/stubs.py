"""Scripted stand-ins for Rasa's REST channel and HTTP API and the action server's /health, served on 127.0.0.1.

They test the gateway's HTTP handling only; the e2e and browser tests run the real Rasa and action server. The API
part behaves like Rasa 3.6's `rasa/server.py` where the gateway relies on it: the token as `?token=` (401 without),
trackers with `events`, `tracker/events` taking one event or a list, `execute` answering `messages` when the output
channel collects them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RASA_GREETING = "Hello from Rasa: 3.6.21"
RASA_TOKEN = "stub-token-0123456789abcdef0123456789"


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a JSON value (or raw `body`), a status, and an optional delay before answering."""

    json: Any = field(default_factory=list)
    status: int = 200
    body: bytes | None = None
    content_type: str = "application/json"
    delay_s: float = 0.0


class RasaStub:
    """`POST /webhooks/rest/webhook` answers the scripted replies in order, then `default`; `GET /` greets."""

    def __init__(self) -> None:
        self.url = ""  # set once served
        self.replies: collections.deque[Reply] = collections.deque()
        self.default = Reply(json=[{"recipient_id": "x", "text": "Hi there!"}])
        self.root = Reply(body=RASA_GREETING.encode(), content_type="text/plain")
        self.received: list[Any] = []
        self.peer_ports: list[int] = []
        self.release = asyncio.Event()  # set on teardown so delayed replies end at once
        self.events: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        """Each conversation's tracker events: REST messages add `user` and `bot` events, the API appends."""
        self.api_calls: list[tuple[str, str, dict[str, str], Any]] = []
        """(method, raw path, query, JSON body) of every API call, in order."""
        self.api_reply: Reply | None = None
        """When set, every API call answers this instead (errors, delays)."""

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/", self._root)
        app.router.add_get("/conversations/{sid}/tracker", self._tracker)
        app.router.add_post("/conversations/{sid}/tracker/events", self._append)
        app.router.add_post("/conversations/{sid}/execute", self._execute)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peer_ports.append(peer[1] if peer else -1)
        reply = self.replies.popleft() if self.replies else self.default
        sender = str(body.get("sender"))
        self.events[sender].append({"event": "user", "text": body.get("message")})
        paused = self.paused(sender)
        if reply.status == 200 and isinstance(reply.json, list) and not reply.delay_s:
            if paused:
                return web.json_response([])
            for message in reply.json:
                if isinstance(message, dict):
                    data = {k: v for k, v in message.items() if k not in ("text", "recipient_id")}
                    self.events[sender].append({"event": "bot", "text": message.get("text"), "data": data})
        return await self._answer(reply)

    def paused(self, sender: str) -> bool:
        """Like Rasa's `tracker.is_paused()`: the latest pause/resume event is a pause."""
        for event in reversed(self.events[sender]):
            if event.get("event") in ("pause", "resume"):
                return bool(event["event"] == "pause")
        return False

    async def _api(self, request: web.Request) -> tuple[str, Any] | web.Response:
        body = await request.json() if request.can_read_body else None
        self.api_calls.append((request.method, request.raw_path.split("?", 1)[0], dict(request.query), body))
        if self.api_reply is not None:
            return await self._answer(self.api_reply)
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"}, status=401)
        return request.match_info["sid"], body

    async def _tracker(self, request: web.Request) -> web.Response:
        checked = await self._api(request)
        if isinstance(checked, web.Response):
            return checked
        sid, _ = checked
        return web.json_response({"sender_id": sid, "paused": self.paused(sid), "events": self.events.get(sid, [])})

    async def _append(self, request: web.Request) -> web.Response:
        checked = await self._api(request)
        if isinstance(checked, web.Response):
            return checked
        sid, body = checked
        self.events[sid].extend(body if isinstance(body, list) else [body])
        return web.json_response({"sender_id": sid})

    async def _execute(self, request: web.Request) -> web.Response:
        checked = await self._api(request)
        if isinstance(checked, web.Response):
            return checked
        sid, body = checked
        slots = [e for e in self.events[sid] if e.get("event") == "slot" and e.get("name") == "agent_message"]
        text = slots[-1]["value"] if slots else None
        policy = body.get("policy")
        self.events[sid].append({"event": "action", "name": body["name"], "policy": policy})
        bot = {"event": "bot", "text": text, "data": {}, "metadata": {"utter_action": body["name"]}}
        self.events[sid].append(bot)
        return web.json_response({"tracker": {}, "messages": [{"recipient_id": sid, "text": text}]})

    async def _root(self, request: web.Request) -> web.Response:
        return await self._answer(self.root)

    async def _answer(self, reply: Reply) -> web.Response:
        if reply.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), reply.delay_s)
        if reply.body is not None:
            return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)
        return web.json_response(reply.json, status=reply.status)


class ActionServerStub:
    """`GET /health` answers like rasa-sdk's action server while `healthy`, else HTTP 500."""

    def __init__(self) -> None:
        self.url = ""  # set once served
        self.healthy = True
        self.health_checks = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._health)
        return app

    async def _health(self, request: web.Request) -> web.Response:
        self.health_checks += 1
        if self.healthy:
            return web.json_response({"status": "ok"})
        return web.json_response({"error": "boom"}, status=500)
