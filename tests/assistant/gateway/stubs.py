"""Scripted stand-ins for Rasa's REST channel and the action server's /health, served on 127.0.0.1.

They test the gateway's HTTP handling only; the e2e tests run the real Rasa and action server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

RASA_GREETING = "Hello from Rasa: 3.6.21"


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

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_get("/", self._root)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peer_ports.append(peer[1] if peer else -1)
        return await self._answer(self.replies.popleft() if self.replies else self.default)

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
