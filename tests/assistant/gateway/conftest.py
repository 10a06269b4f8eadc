"""Fixtures: the stand-ins on real local ports, and a factory for gateways pointed at them."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from assistant.gateway import GatewayConfig, RasaClient, create_app
from assistant.gateway.identity import WEB_SENDER_ID
from tests.assistant.gateway.stubs import RASA_TOKEN, ActionServerStub, RasaStub

GatewayClient = TestClient[web.Request, web.Application]
MakeGateway = Callable[..., Awaitable[GatewayClient]]


class _WebSenderId:
    """Equal to any sender id the gateway issues (`web-` + 24 URL-safe characters)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and WEB_SENDER_ID.fullmatch(other) is not None

    def __repr__(self) -> str:
        return "<a web-... sender id>"


WEB: Any = _WebSenderId()


@pytest.fixture
async def rasa() -> AsyncIterator[RasaStub]:
    stub = RasaStub()
    server = TestServer(stub.app())
    await server.start_server()
    stub.url = str(server.make_url("")).rstrip("/")
    yield stub
    stub.release.set()
    await server.close()


@pytest.fixture
async def actions() -> AsyncIterator[ActionServerStub]:
    stub = ActionServerStub()
    server = TestServer(stub.app())
    await server.start_server()
    stub.url = str(server.make_url("")).rstrip("/")
    yield stub
    await server.close()


@pytest.fixture
def config(rasa: RasaStub, actions: ActionServerStub) -> GatewayConfig:
    return GatewayConfig(
        rasa_url=rasa.url,
        action_server_url=actions.url,
        max_message_chars=1000,
        rasa_timeout_s=5.0,
        health_timeout_s=1.0,
        rasa_token=RASA_TOKEN,
    )


@pytest.fixture
async def make_gateway(config: GatewayConfig) -> AsyncIterator[MakeGateway]:
    """`await make_gateway(rasa_timeout_s=0.3, client=...)`: a started gateway; config fields may be overridden."""
    started: list[GatewayClient] = []

    async def make(
        client: RasaClient | None = None,
        notices: Any = None,
        hub: Any = None,
        console: web.Application | None = None,
        **overrides: Any,
    ) -> GatewayClient:
        app = create_app(dataclasses.replace(config, **overrides), client, notices=notices, hub=hub, console=console)
        gateway = TestClient(TestServer(app))
        await gateway.start_server()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        await gateway.close()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> GatewayClient:
    return await make_gateway()
