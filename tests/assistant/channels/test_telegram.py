"""`PhotoTelegramInput` through a real Sanic server, the real aiogram client and a stand-in Bot API on 127.0.0.1.

Core runtime: `.venv-core/bin/python -m pytest tests/assistant/channels -q -p no:cacheprovider`. The gateway's
`/internal/photos` is a small stand-in here (it records the bytes and answers like the real one); the real endpoint
is tested in tests/assistant/gateway/test_internal.py and the whole path in tests/e2e/test_telegram.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

pytest.importorskip("rasa")
pytest.importorskip("aiogram")

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from assistant.channels.telegram import (
    FETCH_FAILED,
    SECRET_HEADER,
    STORE_FAILED,
    TEXT_AND_PHOTOS_ONLY,
    PhotoTelegramInput,
    typed_text,
)
from tests.e2e.fake_telegram import (
    BOT_USERNAME,
    TOKEN,
    FakeBotApi,
    button_update,
    document_update,
    photo_update,
    sticker_update,
    text_update,
    voice_update,
)

UPLOAD_TOKEN = "u" * 64
SECRET = "s3cr3t-webhook-token"
CHAT = 4242
MAX_BYTES = 200_000
IMAGE_ID = "0123456789abcdef0123456789abcdef"
_apps = itertools.count()


def real_jpeg(size: tuple[int, int] = (640, 480)) -> bytes:
    """A real JPEG (a colour gradient), decodable by any image library."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@dataclass
class GatewayStandIn:
    """`POST /internal/photos` as the gateway answers it: Bearer token, multipart `sender_id` + `photo`."""

    received: list[tuple[str, bytes]] = field(default_factory=list)
    answer: tuple[int, dict[str, Any]] = (200, {"image_id": IMAGE_ID})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_post("/internal/photos", self._photos)
        return app

    async def _photos(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {UPLOAD_TOKEN}":
            return web.json_response({"error": {"code": "unauthorized", "message": "no"}}, status=401)
        form = await request.post()
        photo = form["photo"]
        assert isinstance(photo, web.FileField)
        with photo.file:
            self.received.append((str(form["sender_id"]), photo.file.read()))
        status, body = self.answer
        return web.json_response(body, status=status)


@dataclass
class Harness:
    fake: FakeBotApi
    gateway: GatewayStandIn
    channel: PhotoTelegramInput
    webhook_url: str
    to_rasa: list[UserMessage]
    session: aiohttp.ClientSession

    async def post(self, update: dict[str, Any], secret: str | None = SECRET, raw: bytes | None = None) -> int:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        async with self.session.post(self.webhook_url, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status


OnMessage = Callable[[UserMessage], Awaitable[None]]


@contextlib.asynccontextmanager
async def running(on_message: OnMessage | None = None, **channel_options: Any) -> AsyncIterator[Harness]:
    """The stand-ins, and the connector's blueprint served by a real Sanic server; Rasa's role is `on_message`
    (default: record the message and answer "echo: <text>" through the connector's output channel)."""
    fake, gateway = FakeBotApi(), GatewayStandIn()
    fake_server, gateway_server = TestServer(fake.app()), TestServer(gateway.app())
    await fake_server.start_server()
    await gateway_server.start_server()
    options: dict[str, Any] = {
        "access_token": TOKEN,
        "verify": BOT_USERNAME,
        "webhook_url": "https://shop.example/webhooks/telegram/webhook",
        "api_base_url": str(fake_server.make_url("")).rstrip("/"),
        "photo_upload_url": str(gateway_server.make_url("/internal/photos")),
        "upload_token": UPLOAD_TOKEN,
        "secret_token": SECRET,
        "max_photo_bytes": MAX_BYTES,
        "timeout_s": 5.0,
        "debug_mode": True,
        **channel_options,
    }
    channel = PhotoTelegramInput(**options)
    to_rasa: list[UserMessage] = []

    async def echo(message: UserMessage) -> None:
        to_rasa.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    app = Sanic(f"telegram_test_{next(_apps)}")
    Sanic.test_mode = True  # Sanic 21.12 rewrites its own methods per app: test mode keeps the originals to reuse
    app.blueprint(channel.blueprint(on_message or echo), url_prefix="/webhooks/telegram")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # a free port (Sanic reads port=0 as "use 8000")
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.after_start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))
    try:
        yield Harness(fake, gateway, channel, f"http://127.0.0.1:{port}/webhooks/telegram/webhook", to_rasa, session)
    finally:
        await session.close()
        await server.before_stop()
        await server.close()
        await server.after_stop()
        await fake_server.close()
        await gateway_server.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def texts_to(fake: FakeBotApi, chat: int = CHAT) -> list[str]:
    return [m["text"] for m in fake.sent if str(m["chat_id"]) == str(chat)]


# --- tests --------------------------------------------------------------------------------------------------------


def test_the_webhook_is_registered_with_its_secret_at_start_up() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert h.fake.webhook["url"] == "https://shop.example/webhooks/telegram/webhook"
            assert h.fake.webhook["secret_token"] == SECRET

    run(scenario)


def test_a_text_message_reaches_rasa_and_the_answer_goes_back_through_the_bot_api() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert await h.post(text_update(CHAT, "red lunch bag")) == 200
            assert [(m.text, m.sender_id, m.input_channel) for m in h.to_rasa] == [
                ("red lunch bag", str(CHAT), "telegram")
            ]
            assert texts_to(h.fake) == ["echo: red lunch bag"]
            assert len(h.fake.calls_of("getMe")) == 1  # verified once
            await h.post(text_update(CHAT, "thanks"))
            assert len(h.fake.calls_of("getMe")) == 1

    run(scenario)


def test_a_photo_is_fetched_stored_through_the_gateway_and_sent_to_rasa_as_share_photo() -> None:
    async def scenario() -> None:
        photo = real_jpeg()
        async with running() as h:
            h.fake.add_file("big-photo", photo)
            assert await h.post(photo_update(CHAT, "big-photo", declared_size=len(photo))) == 200
            assert [m.text for m in h.to_rasa] == [f'/share_photo{{"image_id": "{IMAGE_ID}"}}']
            assert h.gateway.received == [(str(CHAT), photo)]  # the largest size, byte for byte
            assert [c["file_id"] for c in h.fake.calls_of("getFile")] == ["big-photo"]
            with Image.open(io.BytesIO(h.gateway.received[0][1])) as image:
                assert image.format == "JPEG" and image.size == (640, 480)

    run(scenario)


def test_an_image_sent_as_a_document_goes_the_same_way_and_other_documents_do_not() -> None:
    async def scenario() -> None:
        async with running() as h:
            h.fake.add_file("doc-photo", real_jpeg((200, 100)))
            await h.post(document_update(CHAT, "doc-photo", "image/png"))
            await h.post(document_update(CHAT, "manual", "application/pdf"))
            assert [m.text for m in h.to_rasa] == [f'/share_photo{{"image_id": "{IMAGE_ID}"}}']
            assert len(h.gateway.received) == 1
            assert texts_to(h.fake)[-1] == TEXT_AND_PHOTOS_ONLY

    run(scenario)


def test_a_photo_declared_too_large_is_refused_without_downloading_it() -> None:
    async def scenario() -> None:
        async with running() as h:
            h.fake.add_file("huge", real_jpeg(), declared_size=MAX_BYTES + 1)
            await h.post(photo_update(CHAT, "huge", declared_size=MAX_BYTES + 1))
            assert h.to_rasa == [] and h.gateway.received == [] and h.fake.downloads == []
            assert "too large" in texts_to(h.fake)[0] and "0.19" in texts_to(h.fake)[0]

    run(scenario)


def test_a_photo_larger_than_declared_is_cut_off_while_downloading() -> None:
    async def scenario() -> None:
        async with running() as h:
            h.fake.add_file("liar", bytes(MAX_BYTES * 3), declared_size=1000)
            await h.post(photo_update(CHAT, "liar", declared_size=1000))
            assert h.to_rasa == [] and h.gateway.received == []
            assert h.fake.downloads and "too large" in texts_to(h.fake)[0]

    run(scenario)


def test_a_failed_download_or_unknown_file_answers_the_shopper_instead_of_crashing() -> None:
    async def scenario() -> None:
        async with running() as h:
            h.fake.add_file("broken", real_jpeg())
            h.fake.fail_downloads = True
            assert await h.post(photo_update(CHAT, "broken")) == 200
            assert await h.post(photo_update(CHAT, "never-uploaded")) == 200  # getFile answers 400
            assert texts_to(h.fake) == [FETCH_FAILED, FETCH_FAILED]
            assert h.to_rasa == []

    run(scenario)


def test_the_gateways_refusal_is_shown_in_its_own_words_and_an_outage_politely() -> None:
    async def scenario() -> None:
        async with running() as h:
            h.fake.add_file("p", real_jpeg())
            refusal = "That file is not a photo this shop accepts. Send a JPEG, PNG or WebP image."
            h.gateway.answer = (415, {"error": {"code": "invalid_image", "message": refusal}})
            await h.post(photo_update(CHAT, "p"))
            h.gateway.answer = (500, {"error": {"code": "internal_error", "message": "stack trace"}})
            await h.post(photo_update(CHAT, "p"))
            assert texts_to(h.fake) == [refusal, STORE_FAILED]
            assert h.to_rasa == []
        async with running(photo_upload_url="http://127.0.0.1:9/internal/photos") as h:  # nothing listens there
            h.fake.add_file("p", real_jpeg())
            await h.post(photo_update(CHAT, "p"))
            assert texts_to(h.fake) == [STORE_FAILED]

    run(scenario)


def test_a_wrong_upload_token_is_not_a_success() -> None:
    async def scenario() -> None:
        async with running(upload_token="wrong") as h:
            h.fake.add_file("p", real_jpeg())
            await h.post(photo_update(CHAT, "p"))
            assert h.to_rasa == [] and texts_to(h.fake) == [STORE_FAILED]

    run(scenario)


def test_stickers_and_voice_notes_get_a_polite_answer() -> None:
    async def scenario() -> None:
        async with running() as h:
            await h.post(sticker_update(CHAT))
            await h.post(voice_update(CHAT))
            assert texts_to(h.fake) == [TEXT_AND_PHOTOS_ONLY, TEXT_AND_PHOTOS_ONLY]
            assert h.to_rasa == []

    run(scenario)


def test_buttons_send_their_payload_and_are_acknowledged() -> None:
    async def scenario() -> None:
        async with running() as h:
            await h.post(button_update(CHAT, "/affirm"))
            assert [(m.text, m.sender_id) for m in h.to_rasa] == [("/affirm", str(CHAT))]
            assert len(h.fake.calls_of("answerCallbackQuery")) == 1

    run(scenario)


def test_bot_messages_with_buttons_become_an_inline_keyboard_and_cards_become_text() -> None:
    async def answer(message: UserMessage) -> None:
        out = message.output_channel
        buttons = [{"title": "Yes", "payload": "/affirm"}, {"title": "Not yet", "payload": "/deny"}]
        await out.send_response(message.sender_id, {"text": "Shall I place the order?", "buttons": buttons})
        cards = {
            "type": "product_cards",
            "products": [
                {"sku": "20725", "title": "LUNCH BAG RED RETROSPOT", "price": "1.65", "stock": {"label": "In stock"}},
                {"sku": "1", "title": "<b>MUG</b>", "price": "price on request"},
            ],
        }
        await out.send_response(message.sender_id, {"custom": cards})

    async def scenario() -> None:
        async with running(on_message=answer) as h:
            await h.post(text_update(CHAT, "checkout"))
            keyboard = h.fake.sent[0]["reply_markup"]["inline_keyboard"]
            assert [(b["text"], b["callback_data"]) for b in keyboard[0]] == [("Yes", "/affirm"), ("Not yet", "/deny")]
            assert h.fake.sent[1]["text"] == "• LUNCH BAG RED RETROSPOT £1.65 (In stock)\n• <b>MUG</b> price on request"
            assert h.fake.sent[1]["reply_markup"] is None  # and no parse_mode: the title is shown, not interpreted
            assert "parse_mode" not in h.fake.calls_of("sendMessage")[1]

    run(scenario)


def test_updates_without_the_secret_token_are_refused() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert await h.post(text_update(CHAT, "hi"), secret=None) == 403
            assert await h.post(text_update(CHAT, "hi"), secret="guess") == 403
            assert h.to_rasa == [] and h.fake.calls_of("getMe") == []

    run(scenario)


def test_malformed_updates_get_400() -> None:
    async def scenario() -> None:
        async with running() as h:
            assert await h.post({}, raw=b"{not json") == 400
            assert await h.post({}, raw=b"[1, 2]") == 400
            assert await h.post({"update_id": 1, "message": 5}) == 400
            assert h.to_rasa == []

    run(scenario)


def test_a_bot_with_another_username_is_not_answered() -> None:
    async def scenario() -> None:
        async with running(verify="someone_elses_bot") as h:
            await h.post(text_update(CHAT, "hi"))
            assert h.to_rasa == [] and h.fake.sent == []

    run(scenario)


def test_the_output_channel_is_one_object_usable_from_the_running_server() -> None:
    """Rasa's `execute?output_channel=latest` (staff replies) asks the input channel for its output channel inside the
    running server; the stock connector calls asyncio.run there and fails."""

    async def scenario() -> None:
        async with running() as h:
            out = h.channel.get_output_channel()
            assert out is h.channel.get_output_channel()
            await out.send_response(str(CHAT), {"text": "Alex from the shop has joined the chat."})
            assert texts_to(h.fake) == ["Alex from the shop has joined the chat."]

    run(scenario)


def test_a_failed_send_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with running(api_base_url="http://127.0.0.1:9") as h:  # nothing listens: every Bot API call fails
            await h.channel.get_output_channel().send_response(str(CHAT), {"text": "hello?"})

    run(scenario)
    assert "setWebhook failed" in caplog.text  # at start-up: logged with the fix, the server still starts
    assert "could not be delivered" in caplog.text


@pytest.mark.parametrize(
    ("typed", "to_rasa"),
    [
        ("/start", "hi"),
        ("/start promo42", "hi"),
        ("/start@shopassist_test_bot", "hi"),
        ("/restart", "/restart"),
        (
            '/share_photo{"image_id": "0123456789abcdef0123456789abcdef"}',
            'share_photo{"image_id": "0123456789abcdef0123456789abcdef"}',
        ),
        ("/affirm", "affirm"),
        ("red lunch bag", "red lunch bag"),
        ("  //  ", "hi"),
    ],
)
def test_typed_commands_never_act_as_intents(typed: str, to_rasa: str) -> None:
    assert typed_text(typed) == to_rasa


def test_credentials_are_checked_and_defaults_come_from_settings(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("GATEWAY_PORT", "18080")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1048576")
    with pytest.raises(ValueError, match="verify"):
        PhotoTelegramInput.from_credentials({"access_token": TOKEN})
    channel = PhotoTelegramInput.from_credentials({"access_token": TOKEN, "verify": BOT_USERNAME})
    assert isinstance(channel, PhotoTelegramInput)
    assert channel.name() == "telegram"
    assert channel.api_base_url == "https://api.telegram.org"
    assert channel.photo_upload_url == "http://127.0.0.1:18080/internal/photos"
    assert channel.max_photo_bytes == 1048576
    assert len(channel.upload_token) == 64 and channel.secret_token and len(channel.secret_token) == 64
    again = PhotoTelegramInput.from_credentials({"access_token": TOKEN, "verify": BOT_USERNAME})
    assert (again.upload_token, again.secret_token) == (channel.upload_token, channel.secret_token)  # same secret file
    with pytest.raises(ValueError, match="api_base_url"):
        PhotoTelegramInput.from_credentials({"access_token": TOKEN, "verify": "b", "api_base_url": "ftp://x"})
