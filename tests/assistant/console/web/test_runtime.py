"""The console as it runs: mounted in the real gateway, its background task, and live streams ending on shutdown."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, text

from assistant.console.web import views
from assistant.console.web.app import ConsoleNotReady, create_console_app
from assistant.gateway import GatewayConfig, RasaClient, create_app
from assistant.gateway.live import InProcessHub
from catalog.db import make_engine
from tests.assistant.console.conftest import add_turn, has_events
from tests.assistant.console.web.conftest import Env, make_settings


async def test_mounted_in_the_gateway_with_its_own_errors_and_headers(
    tmp_path: Path, catalog_engine: Engine, tracker_url: str
) -> None:
    nowhere = "http://127.0.0.1:9"
    config = GatewayConfig(rasa_url=nowhere, action_server_url=nowhere, max_message_chars=1000, rasa_timeout_s=2.0)
    client, hub = RasaClient(config), InProcessHub()
    settings = make_settings(tmp_path, str(catalog_engine.url), tracker_url)
    console = create_console_app(settings, client, hub, catalog_engine, sync_interval_s=None)
    gateway = TestClient(TestServer(create_app(config, client=client, hub=hub, console=console)))
    await gateway.start_server()
    try:
        login = await gateway.get("/staff/login")
        assert login.status == 200 and 'id="login-form"' in await login.text()
        assert "style-src 'self'" in login.headers["Content-Security-Policy"]  # the console's policy, not the chat's
        missing = await gateway.get("/staff/nothing-here", headers={"Accept": "text/html"}, allow_redirects=False)
        assert missing.status == 302  # not the gateway's JSON 404: the console answers for /staff/
        api = await gateway.get("/staff/handoffs/live")
        assert api.status == 401 and api.headers["Content-Type"].startswith("text/plain")
        chat = await gateway.get("/healthz")
        assert chat.status == 200  # the gateway itself is untouched
        # a console form of ~36 KB (4,000 non-Latin characters, url-encoded) reaches the console, which judges it
        # (here: no CSRF token → 403), instead of the gateway's chat-sized body limit refusing it (413)
        origin = str(gateway.make_url("/")).rstrip("/")
        form = await gateway.post(
            "/staff/login", data={"username": "é" * 4000, "password": "x"}, headers={"Origin": origin}
        )
        assert form.status == 403, await form.text()
    finally:
        await gateway.close()


async def test_logged_in_unknown_page_is_an_html_404(env: Env) -> None:
    await env.login("alex")
    status, body = await env.page("/staff/no-such-page")
    assert status == 404 and "Not found" in body and 'role="alert"' in body


async def test_background_task_syncs_the_index_and_carries_out_erasure_requests(
    secure_env_factory: Any, tracker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    add_turn(tracker_url, "web-bg-1", "hello there", "greet")
    add_turn(tracker_url, "web-bg-2", "delete my data", "delete_my_data")
    async with secure_env_factory(sync_interval_s=0.05) as env:
        with env.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO erasure_requests (sender_id, source, requested_at) VALUES (:s, 'shopper', :t)"),
                {"s": "web-bg-2", "t": "2000-01-01 00:00:00"},
            )
        for _ in range(200):
            with env.engine.connect() as conn:
                indexed = {r for (r,) in conn.execute(text("SELECT sender_id FROM conversations"))}
            if "web-bg-1" in indexed and "web-bg-2" not in indexed and not has_events(tracker_url, "web-bg-2"):
                break  # (the tracker store and the catalog are two databases: erasure commits to each in turn)
            await asyncio.sleep(0.05)
        with env.engine.connect() as conn:
            indexed = {r for (r,) in conn.execute(text("SELECT sender_id FROM conversations"))}
        assert "web-bg-1" in indexed and "web-bg-2" not in indexed
        assert not has_events(tracker_url, "web-bg-2")
        assert has_events(tracker_url, "web-bg-1")
    failures = [r.getMessage() for r in caplog.records if r.name == "assistant.console.web.app" and r.levelno >= 30]
    assert failures == []  # every periodic job ran cleanly (sync, erasure, session purge, insight warm-up)


async def test_shutdown_ends_open_live_streams(env: Env) -> None:
    await env.login("alex")
    response = await env.client.get("/staff/handoffs/live")
    assert await response.content.readline() == b"retry: 3000\n"
    for hook in env.console_app.on_shutdown:
        await hook(env.console_app)
    rest = await asyncio.wait_for(response.content.read(), 5)
    assert rest == b"\n"  # the blank line after `retry:`, then the server closed the stream


async def test_start_up_fails_with_the_fix_when_the_catalog_is_not_migrated(tmp_path: Path, tracker_url: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    config = GatewayConfig(rasa_url="http://127.0.0.1:9", action_server_url="http://127.0.0.1:9", max_message_chars=10,
                           rasa_timeout_s=1.0)  # fmt: skip
    console = create_console_app(
        make_settings(tmp_path, str(engine.url), tracker_url), RasaClient(config), InProcessHub(), engine,
        sync_interval_s=None,
    )  # fmt: skip
    server = TestServer(create_app(config, console=console))
    try:
        await server.start_server()
    except ConsoleNotReady as exc:
        assert "make build" in str(exc) and "staff_sessions" in str(exc)
    else:
        raise AssertionError("the console started without its tables")
    finally:
        await server.close()
        engine.dispose()


async def test_live_stream_ends_when_the_session_does(env: Env, monkeypatch: Any) -> None:
    monkeypatch.setattr(views, "SSE_HEARTBEAT_S", 0.1)
    await env.login("alex")
    response = await env.client.get("/staff/conversations/web-x/live")
    assert await response.content.readline() == b"retry: 3000\n"
    assert await asyncio.wait_for(response.content.readuntil(b": keep-alive\n"), 5)  # alive while logged in
    with env.engine.begin() as conn:
        conn.execute(text("DELETE FROM staff_sessions"))  # logged out elsewhere (or expired)
    rest = await asyncio.wait_for(response.content.read(), 5)
    assert rest.count(b"keep-alive") <= 1  # at most one more heartbeat, then the server closed the stream


async def test_background_task_purges_old_conversations_when_retention_is_set(
    secure_env_factory: Any, tracker_url: str
) -> None:
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=10)
    add_turn(tracker_url, "web-old", "hello from long ago", "greet", at=old)
    add_turn(tracker_url, "web-new", "hello today", "greet")
    async with secure_env_factory(sync_interval_s=0.05, retention_days=7):
        for _ in range(200):
            if not has_events(tracker_url, "web-old"):
                break
            await asyncio.sleep(0.05)
        assert not has_events(tracker_url, "web-old")
        assert has_events(tracker_url, "web-new")
