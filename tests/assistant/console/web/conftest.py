"""Fixtures for the console web tests: the console mounted at /staff/ in a real aiohttp server, a migrated SQLite
catalog, a tracker store shaped like Rasa's, and a stand-in for Rasa's HTTP API that records every call and writes
the events Rasa would write (pause, resume, the agent's slot, action and bot message) into that tracker store.

The real Rasa is exercised by the e2e and browser tests; here the boundary is C's `RasaClient` talking HTTP.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from sqlalchemy import Engine

from assistant.console.accounts import Account, AccountStore, Role
from assistant.console.web.app import create_console_app
from assistant.console.web.ratelimit import LoginRateLimiter
from assistant.gateway.config import GatewayConfig
from assistant.gateway.live import InProcessHub
from assistant.gateway.rasa_client import RasaClient
from assistant.settings import Settings, load_settings
from tests.assistant.console.conftest import action_event, add_event, bot_event, timestamp

PASSWORD = "correct horse battery staple"
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')

ConsoleClient = TestClient[web.Request, web.Application]


@dataclass
class RasaApiStub:
    """Rasa 3.6's conversation API as the console uses it: `tracker/events` and `execute?output_channel=latest`.

    Appended events and executed `utter_agent_message`s are written to `tracker_url` as Rasa would store them;
    `fail` makes every call answer 500 (Rasa down)."""

    tracker_url: str
    token: str = "test-token"
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False
    slots: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/conversations/{sid}/tracker/events", self._events)
        app.router.add_post("/conversations/{sid}/execute", self._execute)
        return app

    def _check(self, request: web.Request) -> web.Response | None:
        if request.query.get("token") != self.token:
            return web.json_response({"message": "bad token"}, status=401)
        if self.fail:
            return web.json_response({"message": "down"}, status=500)
        return None

    async def _events(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        sid = request.match_info["sid"]
        body = await request.json()
        self.calls.append({"path": "events", "sender_id": sid, "body": body, "query": dict(request.query)})
        if refused:
            return refused
        for event in body:
            add_event(self.tracker_url, sid, event)
            if event.get("event") == "slot":
                self.slots.setdefault(sid, {})[event["name"]] = event["value"]
        return web.json_response({"sender_id": sid, "events": None})

    async def _execute(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        sid = request.match_info["sid"]
        body = await request.json()
        self.calls.append({"path": "execute", "sender_id": sid, "body": body, "query": dict(request.query)})
        if refused:
            return refused
        text = self.slots.get(sid, {}).get("agent_message")
        action = action_event(body["name"], at=timestamp(), policy=body.get("policy"), confidence=1.0)
        add_event(self.tracker_url, sid, action)
        add_event(self.tracker_url, sid, bot_event(text, at=timestamp(), utter_action=body["name"]))
        return web.json_response({"tracker": {}, "messages": [{"recipient_id": sid, "text": text}]})

    def events_sent(self, sender_id: str) -> list[Any]:
        return [
            event
            for call in self.calls
            if call["path"] == "events" and call["sender_id"] == sender_id
            for event in call["body"]
        ]


@dataclass
class Env:
    """Everything a console test touches."""

    client: ConsoleClient
    engine: Engine
    tracker_url: str
    settings: Settings
    rasa: RasaApiStub
    hub: InProcessHub
    accounts: AccountStore
    limiter: LoginRateLimiter
    agent: Account
    admin: Account
    console_app: web.Application

    @property
    def origin(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def login(self, username: str, password: str = PASSWORD) -> str:
        """Log in through the form; returns the session's CSRF token."""
        page = await self.client.get("/staff/login")
        token = csrf_token(await page.text())
        response = await self.client.post(
            "/staff/login",
            data={"csrf_token": token, "username": username, "password": password, "next": "/staff/"},
            headers={"Origin": self.origin},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()
        home = await self.client.get("/staff/", headers={"Accept": "text/html"})
        assert home.status == 200, await home.text()
        return csrf_token(await home.text())

    async def post(self, path: str, data: dict[str, str], token: str | None, **kwargs: Any) -> Any:
        form = dict(data)
        if token is not None:
            form["csrf_token"] = token
        headers = {"Origin": self.origin, "Accept": "text/html", **kwargs.pop("headers", {})}
        return await self.client.post(path, data=form, headers=headers, allow_redirects=False, **kwargs)

    async def page(self, path: str) -> tuple[int, str]:
        response = await self.client.get(path, headers={"Accept": "text/html"}, allow_redirects=False)
        return response.status, await response.text()


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def make_settings(tmp_path: Path, catalog_url: str, tracker_url: str, **overrides: Any) -> Settings:
    settings = load_settings({"STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path), "DATABASE_URL": catalog_url})
    return dataclasses.replace(
        settings,
        tracker_db_url_override=tracker_url,
        uploads_dir=tmp_path / "state" / "uploads",
        **overrides,
    )


@pytest.fixture
async def env(tmp_path: Path, catalog_engine: Engine, tracker_url: str) -> AsyncIterator[Env]:
    async for value in _env(tmp_path, catalog_engine, tracker_url):
        yield value


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


async def _env(
    tmp_path: Path, engine: Engine, tracker_url: str, sync_interval_s: float | None = None, **overrides: Any
) -> AsyncIterator[Env]:
    stub = RasaApiStub(tracker_url)
    rasa_server = TestServer(stub.app())
    await rasa_server.start_server()
    stub.url = str(rasa_server.make_url("")).rstrip("/")
    settings = make_settings(tmp_path, str(engine.url), tracker_url, **overrides)
    config = GatewayConfig(
        rasa_url=stub.url, action_server_url=stub.url, max_message_chars=1000, rasa_timeout_s=5.0, rasa_token=stub.token
    )
    rasa = RasaClient(config)
    hub = InProcessHub()
    accounts = AccountStore(engine, hasher=FAST_HASHER)
    agent = accounts.create("alex", PASSWORD, Role.AGENT, display_name="Alex")
    admin = accounts.create("root", PASSWORD, Role.ADMIN, display_name="Robin Admin")
    limiter = LoginRateLimiter()
    console = create_console_app(
        settings, rasa, hub, engine, sync_interval_s=sync_interval_s, limiter=limiter, accounts=accounts
    )

    parent = web.Application()

    async def client_session(app: web.Application) -> AsyncIterator[None]:
        await rasa.start()  # the gateway's create_app does this in production
        yield
        await rasa.close()

    parent.cleanup_ctx.append(client_session)
    parent.add_subapp("/staff/", console)
    client = TestClient(TestServer(parent))
    await client.start_server()
    try:
        yield Env(client, engine, tracker_url, settings, stub, hub, accounts, limiter, agent, admin, console)
    finally:
        await client.close()
        await rasa_server.close()


@pytest.fixture
def secure_env_factory(tmp_path: Path, catalog_engine: Engine, tracker_url: str) -> Iterator[Any]:
    """`async with secure_env_factory(cookie_secure=True) as env:` for tests that need other settings."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[Env]:
        generator = _env(tmp_path, catalog_engine, tracker_url, **overrides)
        value = await generator.__anext__()
        try:
            yield value
        finally:
            await generator.aclose()

    yield make
