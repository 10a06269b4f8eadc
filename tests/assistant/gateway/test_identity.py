"""Shopper identity: the gateway issues an unguessable sender id in a signed HttpOnly cookie and every shopper API
uses it; a claimed id that differs is refused, a forged cookie is replaced, logs never hold the id or the text."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientSession, CookieJar

from assistant.gateway.identity import COOKIE_NAME, WEB_SENDER_ID, ShopperCookies, log_id, new_sender_id
from tests.assistant.gateway.conftest import WEB, GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import RasaStub


def test_sender_ids_are_random_and_fit_the_pattern() -> None:
    ids = {new_sender_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(WEB_SENDER_ID.fullmatch(i) and len(i) == 28 for i in ids)


def test_cookies_are_signed_and_checked() -> None:
    cookies = ShopperCookies("k" * 64)
    sid = new_sender_id()
    value = cookies.value(sid)
    assert cookies.sender_id(value) == sid
    other = ShopperCookies("x" * 64)
    assert other.sender_id(value) is None  # another installation's key
    tampered = new_sender_id() + "." + value.rsplit(".", 1)[1]
    for bad in (None, "", sid, tampered, value + "0", value[:-1], "web-../../etc.abc", f"{value}.{value}"):
        assert cookies.sender_id(bad) is None, bad


def test_log_ids_are_short_stable_and_keyed() -> None:
    assert log_id("a" * 64, "web-x") == log_id("a" * 64, "web-x")
    assert log_id("a" * 64, "web-x") != log_id("b" * 64, "web-x")
    assert len(log_id("a" * 64, "web-x")) == 12 and "web" not in log_id("a" * 64, "web-x")


def cookie_of(response: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):  # type: ignore[attr-defined]
        jar.load(header)
    return jar


async def test_the_page_issues_an_http_only_lax_cookie(gateway: GatewayClient) -> None:
    response = await gateway.get("/")
    morsel = cookie_of(response)[COOKIE_NAME]
    assert WEB_SENDER_ID.fullmatch(morsel.value.rsplit(".", 1)[0])
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert not morsel["secure"]
    again = await gateway.get("/")  # the client sends it back: no new identity
    assert COOKIE_NAME not in cookie_of(again)


async def test_the_cookie_is_secure_behind_tls(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(cookie_secure=True)
    assert cookie_of(await gateway.get("/"))[COOKIE_NAME]["secure"] is True


async def test_every_message_of_one_browser_goes_to_one_sender(gateway: GatewayClient, rasa: RasaStub) -> None:
    await gateway.get("/")
    for text in ("hi", "red lunch bag"):
        assert (await gateway.post("/api/chat", json={"text": text})).status == 200
    senders = {r["sender"] for r in rasa.received}
    assert len(senders) == 1 and next(iter(senders)) == WEB


async def test_a_claimed_sender_id_of_someone_else_is_refused(gateway: GatewayClient, rasa: RasaStub) -> None:
    await gateway.post("/api/chat", json={"text": "hi"})
    mine = rasa.received[0]["sender"]
    ok = await gateway.post("/api/chat", json={"sender_id": mine, "text": "again"})
    assert ok.status == 200  # naming one's own id is allowed
    for path, kwargs in (
        ("/api/chat", {"json": {"sender_id": "web-someoneelse000000000000000", "text": "hi"}}),
        ("/api/notices?sender_id=victim", {}),
    ):
        method = gateway.post if path == "/api/chat" else gateway.get
        response = await method(path, **kwargs)
        assert response.status == 403, path
        assert (await response.json())["error"]["code"] == "sender_mismatch"
    assert len(rasa.received) == 2


async def test_a_forged_cookie_gets_a_fresh_identity_not_the_victims(
    gateway: GatewayClient, rasa: RasaStub, config: object
) -> None:
    victim = new_sender_id()
    rasa.events[victim] = [{"event": "user", "text": "my secret address is 1 Main St"}]
    forged = f"{victim}.{'0' * 32}"
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
        url = str(gateway.make_url("/api/history"))
        async with session.get(url, headers={"Cookie": f"{COOKIE_NAME}={forged}"}) as response:
            body = await response.json()
            issued = cookie_of(response)[COOKIE_NAME].value
    assert body == {"messages": [], "handoff": "bot"}
    assert not issued.startswith(victim)
    assert [call for call in rasa.api_calls if victim in call[1]] == []


async def test_logs_hold_neither_the_sender_id_nor_the_text(
    make_gateway: MakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = await make_gateway(rasa_url="http://127.0.0.1:9")  # nothing listens: a logged failure
    with caplog.at_level(logging.DEBUG):
        response = await gateway.post("/api/chat", json={"text": "my phone is 07700 900123"})
    assert response.status == 503
    sender = cookie_of(response)[COOKIE_NAME].value.rsplit(".", 1)[0]
    assert "Rasa unavailable" in caplog.text  # something was logged, so the checks below mean something
    assert sender not in caplog.text
    assert "07700" not in caplog.text


def test_the_access_log_holds_no_identifiers(caplog: pytest.LogCaptureFixture) -> None:
    from unittest.mock import Mock

    from aiohttp import web

    from assistant.gateway.access_log import RedactedAccessLogger, redact_path

    sid = new_sender_id()
    assert redact_path(f"/staff/conversations/{sid}/live?q=my+address") == "/staff/conversations/…/live"
    assert redact_path("/api/uploads/" + "a" * 32) == "/api/uploads/…"
    assert redact_path("/staff/customers/12345/erase") == "/staff/customers/…/erase"
    assert redact_path("/staff/?customer=12345&q=red") == "/staff/"
    request = Mock(spec=web.BaseRequest, method="GET", path=f"/staff/conversations/{sid}", remote="203.0.113.9")
    response = Mock(spec=web.StreamResponse, status=200, body_length=512)
    with caplog.at_level(logging.INFO, logger="test.access"):
        RedactedAccessLogger(logging.getLogger("test.access"), "").log(request, response, 0.0123)
    assert caplog.messages == ["GET /staff/conversations/… 200 512 0.012s"]
    assert sid not in caplog.text and "203.0.113.9" not in caplog.text
