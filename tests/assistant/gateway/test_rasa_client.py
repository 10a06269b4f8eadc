"""`RasaClient`: one shared HTTP session for the app's lifetime, and aiohttp's errors translated into the gateway's."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from assistant.gateway import (
    AssistantReplyInvalid,
    AssistantTimeout,
    AssistantUnavailable,
    Backend,
    GatewayConfig,
    RasaClient,
)
from assistant.gateway.app import CLIENT_KEY
from tests.assistant.gateway.conftest import MakeGateway
from tests.assistant.gateway.stubs import RASA_TOKEN, RasaStub, Reply


async def test_one_session_serves_every_request_and_is_closed_on_cleanup(
    make_gateway: MakeGateway, config: GatewayConfig, rasa: RasaStub
) -> None:
    client = RasaClient(config)
    gateway = await make_gateway(client=client)
    session = client.session
    for i in range(6):
        response = await gateway.post("/api/chat", json={"text": f"message {i}"})
        assert response.status == 200
        await gateway.get("/api/status")
    assert client.session is session
    # Every message went over the same kept-alive connection: a session per request would open a new one each time.
    assert len(rasa.peer_ports) == 6
    assert len(set(rasa.peer_ports)) == 1
    assert not session.closed

    await gateway.close()
    assert session.closed


async def test_the_app_opens_and_closes_its_own_client(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway()
    app = gateway.app
    assert app is not None
    session = app[CLIENT_KEY].session
    assert isinstance(session, aiohttp.ClientSession)
    assert not session.closed
    await gateway.close()
    assert session.closed


async def test_a_client_cannot_be_used_before_start(config: GatewayConfig) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        await RasaClient(config).send("abc", "hi")


async def test_send_posts_to_the_rest_channel(config: GatewayConfig, rasa: RasaStub) -> None:
    rasa.script(Reply(json=[{"recipient_id": "abc", "text": "hello"}, "junk"]))
    async with RasaClient(dataclasses.replace(config, rasa_url=config.rasa_url + "/")) as client:
        assert await client.send("abc", "hi there") == [{"recipient_id": "abc", "text": "hello"}]
    assert rasa.received == [{"sender": "abc", "message": "hi there"}]


async def test_errors_are_translated(config: GatewayConfig, rasa: RasaStub) -> None:
    async with RasaClient(dataclasses.replace(config, rasa_url=f"http://127.0.0.1:{unused_port()}")) as client:
        with pytest.raises(AssistantUnavailable) as down:
            await client.send("abc", "hi")
    assert down.value.which is Backend.RASA
    assert not isinstance(down.value, AssistantTimeout)
    assert isinstance(down.value.__cause__, aiohttp.ClientError)

    rasa.script(Reply(delay_s=10), Reply(status=500), Reply(status=404))
    async with RasaClient(dataclasses.replace(config, rasa_timeout_s=0.2)) as client:
        with pytest.raises(AssistantTimeout, match=r"within 0\.2 s"):
            await client.send("abc", "hi")
        with pytest.raises(AssistantUnavailable, match="HTTP 500"):
            await client.send("abc", "hi")
        with pytest.raises(AssistantReplyInvalid, match=r"credentials\.yml"):
            await client.send("abc", "hi")


async def test_health_probes(config: GatewayConfig) -> None:
    async with RasaClient(config) as client:
        assert await client.rasa_healthy()
        assert await client.actions_healthy()
    closed = f"http://127.0.0.1:{unused_port()}"
    async with RasaClient(dataclasses.replace(config, rasa_url=closed, action_server_url=closed)) as client:
        assert not await client.rasa_healthy()
        assert not await client.actions_healthy()


def test_config_from_settings_and_bad_values(tmp_path: Path) -> None:
    from assistant.secrets import load_secret, rasa_api_token
    from assistant.settings import load_settings

    env = {"STATE_DIR": str(tmp_path), "RASA_PORT": "5100", "ACTION_PORT": "5200", "MAX_MESSAGE_CHARS": "300"}
    settings = load_settings(env | {"COOKIE_SECURE": "1"})
    config = GatewayConfig.from_settings(settings)
    assert config.secret == load_secret(tmp_path / "secret.key")  # made on first use, shared with Rasa's token
    assert config.rasa_token == rasa_api_token(tmp_path / "secret.key") and config.cookie_secure
    assert config.key("shopper-cookie") != config.key("log") != config.rasa_token
    assert "secret" not in repr(config) or repr(config.secret) not in repr(config)
    assert (config.rasa_url, config.action_server_url) == ("http://127.0.0.1:5100", "http://127.0.0.1:5200")
    assert (config.max_message_chars, config.rasa_timeout_s, config.health_timeout_s) == (300, 30.0, 2.0)
    assert config.max_body_bytes == 16 * 1024
    assert GatewayConfig.from_settings(load_settings(env | {"MAX_MESSAGE_CHARS": "5000"})).max_body_bytes > 12 * 5000

    with pytest.raises(ValueError, match=re.escape("rasa_url has value '127.0.0.1:5005'")):
        dataclasses.replace(config, rasa_url="127.0.0.1:5005")
    with pytest.raises(ValueError, match="rasa_timeout_s"):
        dataclasses.replace(config, rasa_timeout_s=0)
    with pytest.raises(ValueError, match="secret is shorter"):
        dataclasses.replace(config, secret=b"short")


# --- Rasa's HTTP API: trackers, events, staff replies -------------------------------------------------------------


async def test_api_calls_carry_the_token_and_quote_the_sender(config: GatewayConfig, rasa: RasaStub) -> None:
    sender = "tg-100/../x y"  # quoted into one path segment, never a path of its own
    async with RasaClient(config) as client:
        await client.pause(sender)
        await client.append_events(sender, [])  # nothing to append: no call
        await client.resume(sender)
        tracker = await client.tracker(sender)
    assert [e["event"] for e in tracker["events"]] == ["pause", "resume"]
    assert [(m, p) for m, p, _, _ in rasa.api_calls] == [
        ("POST", "/conversations/tg-100%2F..%2Fx%20y/tracker/events"),
        ("POST", "/conversations/tg-100%2F..%2Fx%20y/tracker/events"),
        ("GET", "/conversations/tg-100%2F..%2Fx%20y/tracker"),
    ]
    assert all(query["token"] == RASA_TOKEN for _, _, query, _ in rasa.api_calls)
    assert rasa.api_calls[0][3] == [{"event": "pause"}]


async def test_say_as_agent_sets_the_slot_then_executes_on_the_latest_channel(
    config: GatewayConfig, rasa: RasaStub
) -> None:
    async with RasaClient(config) as client:
        messages = await client.say_as_agent("web-abc", "Hello <from> Alex", agent="Alex")
    assert messages == [{"recipient_id": "web-abc", "text": "Hello <from> Alex"}]
    (_, _, _, events), (_, path, query, command), (_, _, _, after) = rasa.api_calls
    assert events == [{"event": "slot", "name": "agent_message", "value": "Hello <from> Alex"}]
    assert path == "/conversations/web-abc/execute"
    assert query["output_channel"] == "latest" and query["include_events"] == "NONE"
    assert command == {"name": "utter_agent_message", "policy": "staff:Alex"}
    assert after == [{"event": "action", "name": "action_listen"}]  # the shopper's next message meets the rules


async def test_api_errors_are_translated_and_say_what_to_fix(config: GatewayConfig, rasa: RasaStub) -> None:
    async with RasaClient(dataclasses.replace(config, rasa_token="wrong-token")) as client:
        with pytest.raises(AssistantReplyInvalid, match=r"refused the API token.*SECRET_FILE"):
            await client.tracker("web-abc")
    async with RasaClient(config) as client:
        rasa.api_reply = Reply(status=404, json={})
        with pytest.raises(AssistantReplyInvalid, match="--enable-api"):
            await client.pause("web-abc")
        rasa.api_reply = Reply(status=500, json={})
        with pytest.raises(AssistantUnavailable, match="HTTP 500"):
            await client.say_as_agent("web-abc", "hi")
        rasa.api_reply = Reply(body=b"<html>", content_type="text/html")
        with pytest.raises(AssistantReplyInvalid, match="not JSON"):
            await client.tracker("web-abc")
        rasa.api_reply = Reply(json=["not", "a", "tracker"])
        with pytest.raises(AssistantReplyInvalid, match="tracker"):
            await client.tracker("web-abc")
        rasa.api_reply = Reply(json={}, delay_s=10)
    async with RasaClient(dataclasses.replace(config, rasa_timeout_s=0.2)) as client:
        with pytest.raises(AssistantTimeout):
            await client.resume("web-abc")
    async with RasaClient(dataclasses.replace(config, rasa_url=f"http://127.0.0.1:{unused_port()}")) as client:
        with pytest.raises(AssistantUnavailable):
            await client.tracker("web-abc")
