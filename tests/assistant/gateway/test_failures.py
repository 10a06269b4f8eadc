"""When Rasa or the action server is down, slow or broken, the shopper gets a clear 503; the gateway keeps serving."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestServer, unused_port

from tests.assistant.gateway.conftest import GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import ActionServerStub, RasaStub, Reply

MESSAGE = {"text": "red lunch bag"}


def closed_port_url() -> str:
    return f"http://127.0.0.1:{unused_port()}"


async def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    error: dict[str, str] = (await response.json())["error"]
    return error


async def test_rasa_down_answers_503_at_once(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(rasa_url=closed_port_url())
    started = time.monotonic()
    response = await gateway.post("/api/chat", json=MESSAGE)
    elapsed = time.monotonic() - started
    error = await error_of(response, 503)
    assert error["code"] == "assistant_unavailable"
    assert "starting" in error["message"]
    assert "try again" in error["message"]
    assert response.headers["Retry-After"] == "5"
    assert elapsed < 1.0


async def test_unresolvable_rasa_host_answers_503(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(rasa_url="http://rasa.invalid:5005", rasa_timeout_s=2.0)
    error = await error_of(await gateway.post("/api/chat", json=MESSAGE), 503)
    assert error["code"] == "assistant_unavailable"


async def test_slow_rasa_answers_503_once_the_timeout_is_up(make_gateway: MakeGateway, rasa: RasaStub) -> None:
    rasa.script(Reply(json=[{"text": "too late"}], delay_s=10))
    gateway = await make_gateway(rasa_timeout_s=0.5)
    started = time.monotonic()
    response = await gateway.post("/api/chat", json=MESSAGE)
    elapsed = time.monotonic() - started
    error = await error_of(response, 503)
    assert error["code"] == "assistant_unavailable"
    assert "in time" in error["message"]
    assert 0.4 <= elapsed < 2.0


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_rasa_server_errors_answer_503(gateway: GatewayClient, rasa: RasaStub, status: int) -> None:
    rasa.script(Reply(json={"error": "internal"}, status=status))
    error = await error_of(await gateway.post("/api/chat", json=MESSAGE), 503)
    assert error["code"] == "assistant_unavailable"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(json={"error": "not found"}, status=404),
        Reply(body=b"<html>proxy error</html>", content_type="text/html"),
        Reply(json={"text": "a dict, not a list"}),
    ],
    ids=["http-404", "html", "not-a-list"],
)
async def test_a_reply_that_is_not_the_rest_channel_answers_502(
    gateway: GatewayClient, rasa: RasaStub, reply: Reply
) -> None:
    rasa.script(reply)
    error = await error_of(await gateway.post("/api/chat", json=MESSAGE), 502)
    assert error["code"] == "assistant_bad_reply"


async def test_empty_reply_with_action_server_down_answers_503(make_gateway: MakeGateway, rasa: RasaStub) -> None:
    rasa.script(Reply(json=[]))
    gateway = await make_gateway(action_server_url=closed_port_url())
    response = await gateway.post("/api/chat", json=MESSAGE)
    error = await error_of(response, 503)
    assert error["code"] == "actions_unavailable"
    assert "try again" in error["message"]
    assert response.headers["Retry-After"] == "5"


async def test_empty_reply_with_action_server_failing_answers_503(
    gateway: GatewayClient, rasa: RasaStub, actions: ActionServerStub
) -> None:
    rasa.script(Reply(json=[]))
    actions.healthy = False
    error = await error_of(await gateway.post("/api/chat", json=MESSAGE), 503)
    assert error["code"] == "actions_unavailable"
    assert actions.health_checks == 1


async def test_empty_reply_with_action_server_up_answers_200_and_no_messages(
    gateway: GatewayClient, rasa: RasaStub, actions: ActionServerStub
) -> None:
    rasa.script(Reply(json=[]))
    response = await gateway.post("/api/chat", json=MESSAGE)
    assert response.status == 200
    assert await response.json() == {"messages": []}
    assert actions.health_checks == 1


async def test_a_normal_reply_does_not_probe_the_action_server(
    gateway: GatewayClient, rasa: RasaStub, actions: ActionServerStub
) -> None:
    response = await gateway.post("/api/chat", json=MESSAGE)
    assert response.status == 200
    assert actions.health_checks == 0


async def test_the_gateway_keeps_serving_and_recovers_when_rasa_comes_back(make_gateway: MakeGateway) -> None:
    port = unused_port()
    gateway = await make_gateway(rasa_url=f"http://127.0.0.1:{port}")
    for _ in range(3):
        assert (await error_of(await gateway.post("/api/chat", json=MESSAGE), 503))["code"] == "assistant_unavailable"
    health = await gateway.get("/healthz")
    assert health.status == 200
    assert await health.json() == {"status": "ok"}

    rasa = RasaStub()
    rasa.script(Reply(json=[{"recipient_id": "abc", "text": "I'm back!"}]))
    server = TestServer(rasa.app(), port=port)
    await server.start_server()
    try:
        response = await gateway.post("/api/chat", json=MESSAGE)
        assert response.status == 200
        assert await response.json() == {"messages": [{"type": "text", "text": "I'm back!"}]}
    finally:
        await server.close()
    assert (await error_of(await gateway.post("/api/chat", json=MESSAGE), 503))["code"] == "assistant_unavailable"


async def test_error_logs_hold_the_length_of_the_message_not_its_text(
    make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await make_gateway(rasa_url=closed_port_url())
    text = "A" * 100 + "SECRET-TAIL" + "B" * 800
    with caplog.at_level(logging.INFO):
        response = await gateway.post("/api/chat", json={"text": text})
    assert response.status == 503
    logged = caplog.text
    assert "(911 chars)" in logged  # the failure is logged, so the check below is meaningful
    assert "AAAA" not in logged and "SECRET-TAIL" not in logged and "BBBB" not in logged


async def test_status_reports_both_backends_up(gateway: GatewayClient) -> None:
    response = await gateway.get("/api/status")
    assert response.status == 200
    assert await response.json() == {"gateway": "ok", "rasa": "up", "actions": "up"}


async def test_status_reports_backends_down(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(rasa_url=closed_port_url(), action_server_url=closed_port_url())
    assert await (await gateway.get("/api/status")).json() == {"gateway": "ok", "rasa": "down", "actions": "down"}


async def test_status_does_not_take_something_else_for_rasa(
    gateway: GatewayClient, rasa: RasaStub, actions: ActionServerStub
) -> None:
    rasa.root = Reply(body=b"Welcome to nginx!", content_type="text/html")
    actions.healthy = False
    assert await (await gateway.get("/api/status")).json() == {"gateway": "ok", "rasa": "down", "actions": "down"}


async def test_status_honours_the_health_timeout(make_gateway: MakeGateway, rasa: RasaStub) -> None:
    rasa.root = Reply(body=b"Hello from Rasa: 3.6.21", content_type="text/plain", delay_s=10)
    gateway = await make_gateway(health_timeout_s=0.3)
    started = time.monotonic()
    payload = await (await gateway.get("/api/status")).json()
    assert time.monotonic() - started < 1.5
    assert payload == {"gateway": "ok", "rasa": "down", "actions": "up"}
