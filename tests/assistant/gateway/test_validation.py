"""`POST /api/chat` refuses bad requests with a JSON error (status, code, a message saying how to fix it) and never
forwards them; what it accepts reaches Rasa verbatim, control characters aside."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant.gateway.validation import clean_text
from tests.assistant.gateway.conftest import WEB, GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import RasaStub

JSON = {"Content-Type": "application/json"}


async def post_raw(gateway: GatewayClient, body: bytes | str, headers: dict[str, str] | None = None) -> Any:
    return await gateway.post("/api/chat", data=body, headers=JSON if headers is None else headers)


async def assert_error(response: Any, status: int, code: str, *mentions: str) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    payload = await response.json()
    assert set(payload) == {"error"}
    assert payload["error"]["code"] == code
    message: str = payload["error"]["message"]
    for mention in mentions:
        assert mention in message
    return message


@pytest.mark.parametrize(
    ("body", "headers", "code", "mentions"),
    [
        ("this is not json", JSON, "invalid_json", ["not valid", "JSON"]),
        ('{"text": "hi"', JSON, "invalid_json", ["JSON"]),
        ('{"text": "hi"}', {"Content-Type": "text/plain"}, "invalid_json", ["application/json"]),
        (
            '{"text": "hi"}',
            {"Content-Type": "application/x-www-form-urlencoded"},
            "invalid_json",
            [],
        ),
        (b'{"text": "caf\xe9"}', JSON, "invalid_json", ["UTF-8"]),
        ("[" * 5000 + "]" * 5000, JSON, "invalid_json", []),
        ("", JSON, "invalid_json", []),
        ('["abc", "hi"]', JSON, "invalid_body", ["JSON object"]),
        ('"hi"', JSON, "invalid_body", []),
        ("null", JSON, "invalid_body", []),
    ],
    ids=[
        "not-json",
        "truncated",
        "text-plain",
        "form",
        "latin1",
        "deep-nesting",
        "empty-body",
        "array",
        "string",
        "null",
    ],
)
async def test_malformed_bodies_are_refused(
    gateway: GatewayClient, rasa: RasaStub, body: str | bytes, headers: dict[str, str], code: str, mentions: list[str]
) -> None:
    await assert_error(await post_raw(gateway, body, headers), 400, code, *mentions)
    assert rasa.received == []


async def test_a_request_without_content_type_is_refused(gateway: GatewayClient, rasa: RasaStub) -> None:
    response = await gateway.post("/api/chat", data=b'{"text": "hi"}', skip_auto_headers=["Content-Type"])
    await assert_error(response, 400, "invalid_json", "application/json")
    assert rasa.received == []


@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({"sender_id": "abc"}, 400, "missing_field", ["'text'"]),
        ({}, 400, "missing_field", ["'text'"]),
        ({"text": "hi", "locale": "en"}, 400, "unknown_field", ["'locale'"]),
        ({"sender": "abc", "message": "hi"}, 400, "unknown_field", ["'message'", "'sender'"]),
        ({"sender_id": 42, "text": "hi"}, 400, "invalid_type", ["'sender_id'", "number"]),
        ({"text": None}, 400, "invalid_type", ["'text'", "null"]),
        ({"text": ["hi"]}, 400, "invalid_type", ["'text'", "array"]),
        ({"text": True}, 400, "invalid_type", ["'text'", "boolean"]),
        ({"sender_id": "", "text": "hi"}, 400, "invalid_sender_id", ["64"]),
        ({"sender_id": "a" * 65, "text": "hi"}, 400, "invalid_sender_id", []),
        ({"sender_id": "has space", "text": "hi"}, 400, "invalid_sender_id", []),
        ({"sender_id": "../etc/passwd", "text": "hi"}, 400, "invalid_sender_id", []),
        ({"sender_id": "abc\n", "text": "hi"}, 400, "invalid_sender_id", []),
        ({"sender_id": "émile", "text": "hi"}, 400, "invalid_sender_id", []),
        ({"sender_id": "<script>", "text": "hi"}, 400, "invalid_sender_id", []),
        ({"text": ""}, 400, "empty_text", []),
        ({"text": "  \n\t  "}, 400, "empty_text", []),
        ({"text": "\x00\x07\x1b"}, 400, "empty_text", []),
        ({"text": "a" * 1001}, 413, "text_too_long", ["1001", "1000"]),
    ],
)
async def test_invalid_messages_are_refused_with_a_code_naming_the_problem(
    gateway: GatewayClient, rasa: RasaStub, body: dict[str, Any], status: int, code: str, mentions: list[str]
) -> None:
    await assert_error(await post_raw(gateway, json.dumps(body)), status, code, *mentions)
    assert rasa.received == []


async def test_many_unknown_fields_are_summarised(gateway: GatewayClient) -> None:
    body = {"text": "hi"} | {f"field{i:02d}": i for i in range(20)}
    message = await assert_error(await post_raw(gateway, json.dumps(body)), 400, "unknown_field", "'field00'")
    assert "and 15 more" in message
    assert "'field19'" not in message


async def test_the_limit_is_the_configured_one(make_gateway: MakeGateway, rasa: RasaStub) -> None:
    gateway = await make_gateway(max_message_chars=10)
    await assert_error(await gateway.post("/api/chat", json={"text": "a" * 11}), 413, "text_too_long", "10")
    response = await gateway.post("/api/chat", json={"text": "a" * 10})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "a" * 10}]


async def test_a_message_of_exactly_the_limit_is_accepted(gateway: GatewayClient, rasa: RasaStub) -> None:
    response = await gateway.post("/api/chat", json={"text": "é" * 1000})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "é" * 1000}]


async def test_the_limit_counts_characters_left_after_cleaning(gateway: GatewayClient, rasa: RasaStub) -> None:
    response = await gateway.post("/api/chat", json={"text": "a" * 1000 + "\x00" * 50})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "a" * 1000}]


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
async def test_a_huge_body_is_refused_with_json_not_an_html_page(
    gateway: GatewayClient, rasa: RasaStub, size: int
) -> None:
    body = json.dumps({"text": "a" * size})
    await assert_error(await post_raw(gateway, body), 413, "body_too_large", "16384 bytes", "1000 characters")
    assert rasa.received == []


async def test_a_huge_chunked_body_without_length_is_refused(gateway: GatewayClient, rasa: RasaStub) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"text": "'
        for _ in range(64):
            yield b"a" * 1024
        yield b'"}'

    response = await gateway.post("/api/chat", data=chunks(), headers=JSON)
    assert "Content-Length" not in response.request_info.headers
    await assert_error(response, 413, "body_too_large")
    assert rasa.received == []


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE products; --",
        "red' OR '1'='1",
        "SELECT * FROM customers WHERE id = 1; -- lunch bag",
        '<script>alert("x")</script> <img src=x onerror=alert(1)>',
        "{{7*7}} ${7*7} %s %(name)s",
        "emoji 🎁 and 中文 and זה",
    ],
)
async def test_text_reaches_rasa_verbatim(gateway: GatewayClient, rasa: RasaStub, text: str) -> None:
    response = await gateway.post("/api/chat", json={"text": text})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": text}]


async def test_control_characters_are_stripped_before_forwarding(gateway: GatewayClient, rasa: RasaStub) -> None:
    text = "red\x00 lunch\x1b[0m\x7f\x85 bag\r\nsecond line\rthird\tline\n\u200b🎁"
    response = await gateway.post("/api/chat", json={"text": text})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "red lunch[0m bag\nsecond line\nthird line\n\u200b🎁"}]


async def test_lone_surrogates_are_stripped(gateway: GatewayClient, rasa: RasaStub) -> None:
    response = await post_raw(gateway, '{"text": "bag \\ud800 red"}')
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "bag  red"}]


def test_clean_text_keeps_newlines_and_drops_other_controls() -> None:
    assert clean_text("a\nb") == "a\nb"
    assert clean_text("a\r\nb\rc") == "a\nb\nc"
    assert clean_text("".join(map(chr, range(32))) + "x") == " \n\nx"  # TAB → space, LF kept, CR → LF
    assert clean_text("".join(map(chr, range(0x7F, 0xA0))) + "y") == "y"
    assert clean_text("Set/6 “red” — £1.65") == "Set/6 “red” — £1.65"


async def test_unknown_api_paths_answer_json_404(gateway: GatewayClient) -> None:
    await assert_error(await gateway.get("/api/nothing-here"), 404, "not_found", "/api/nothing-here", "POST /api/chat")
    await assert_error(await gateway.post("/api/chat/extra", json={}), 404, "not_found")


async def test_wrong_methods_answer_json_405_with_allow(gateway: GatewayClient) -> None:
    response = await gateway.get("/api/chat")
    await assert_error(response, 405, "method_not_allowed", "POST")
    assert response.headers["Allow"] == "POST"
    response = await gateway.put("/healthz")
    await assert_error(response, 405, "method_not_allowed", "GET")


async def test_a_charset_parameter_is_accepted(gateway: GatewayClient, rasa: RasaStub) -> None:
    body = json.dumps({"text": "mug"}).encode()
    response = await post_raw(gateway, body, {"Content-Type": "application/json; charset=utf-8"})
    assert response.status == 200
    assert rasa.received == [{"sender": WEB, "message": "mug"}]
