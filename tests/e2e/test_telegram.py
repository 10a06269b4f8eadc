"""End to end on Telegram: updates posted to the real Rasa's `/webhooks/telegram/webhook` (the project's connector),
answered through a local stand-in of the Bot API on 127.0.0.1:18443 (the real aiogram client pointed at it).

A text ("hi") gets Rasa's greeting; a real photo goes stand-in → connector → the gateway's `/internal/photos` →
the image model, and the answer ("this looks like..." or the store's honest refusal) arrives at the stand-in's
sendMessage; a staff reply sent through Rasa's `execute?output_channel=latest` reaches the Telegram chat too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from assistant.secrets import derive, load_secret, rasa_api_token
from assistant.stack import Stack
from retrieval.vision.uploads import UploadStore
from tests.e2e.conftest import TELEGRAM_STAND_IN
from tests.e2e.fake_telegram import FakeBotApi, photo_update, sticker_update, text_update
from tests.retrieval.vision.images import coffee_jpeg

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STAND_IN_PORT = int(TELEGRAM_STAND_IN.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
async def bot_api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", STAND_IN_PORT)
    await site.start()
    yield fake
    await runner.cleanup()


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        yield session


def webhook_secret(stack: Stack) -> str:
    return derive(load_secret(stack.settings.secret_file), "telegram-webhook")[:64]


async def post_update(
    http: aiohttp.ClientSession, stack: Stack, update: dict[str, Any], secret: str | None = None
) -> int:
    url = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"
    headers = {SECRET_HEADER: secret if secret is not None else webhook_secret(stack)}
    async with http.post(url, json=update, headers=headers) as answer:
        await answer.read()
        return answer.status


async def test_the_webhook_can_be_registered_with_its_secret(
    stack: Stack, bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    # Rasa tried at start-up (the stand-in may not have been up yet); this is the documented way to retry.
    async with http.post(f"{stack.settings.rasa_url}/webhooks/telegram/set_webhook") as answer:
        assert answer.status == 200, await answer.text()
    assert bot_api.webhook["secret_token"] == webhook_secret(stack)


async def test_a_text_message_gets_the_bots_answer_through_the_bot_api(
    stack: Stack, bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    chat = 710001
    assert await post_update(http, stack, text_update(chat, "hi")) == 200
    answers = await bot_api.wait_for_sent(chat, 1)
    assert answers[0]["text"], answers
    assert bot_api.calls_of("getMe")


async def test_a_photo_goes_through_the_web_upload_path_and_is_answered(
    stack: Stack, bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    chat = 710002
    photo = coffee_jpeg()
    bot_api.add_file("coffee-photo", photo)
    assert await post_update(http, stack, photo_update(chat, "coffee-photo", declared_size=len(photo))) == 200
    texts = " ".join(str(m["text"]) for m in await bot_api.wait_for_sent(chat, 1))
    assert "looks like" in texts, texts  # the coffee photo finds cups, as through the web upload (test_photos.py)
    assert any(word in texts.upper() for word in ("CUP", "MUG", "SAUCER")), texts
    metas = {p.stem: json.loads(p.read_text()) for p in stack.settings.uploads_dir.glob("*.json")}
    mine = [image_id for image_id, meta in metas.items() if meta["sender_id"] == str(chat)]
    assert len(mine) == 1, metas  # stored once, bound to the Telegram chat, cleaned like a web upload
    assert UploadStore(stack.settings.uploads_dir).find(mine[0], str(chat)).width <= 1600


async def test_a_sticker_gets_the_polite_answer_and_forged_updates_are_refused(
    stack: Stack, bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    chat = 710003
    assert await post_update(http, stack, sticker_update(chat)) == 200
    assert "text and photos" in str((await bot_api.wait_for_sent(chat, 1))[0]["text"])
    assert await post_update(http, stack, text_update(chat, "hi"), secret="forged") == 403
    assert len([m for m in bot_api.sent if str(m["chat_id"]) == str(chat)]) == 1


async def test_a_staff_reply_through_rasas_execute_reaches_the_telegram_chat(
    stack: Stack, bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    chat = 710004
    assert await post_update(http, stack, text_update(chat, "hi")) == 200
    await bot_api.wait_for_sent(chat, 1)
    base = f"{stack.settings.rasa_url}/conversations/{chat}"
    token = {"token": rasa_api_token(stack.settings.secret_file)}
    slot = [{"event": "slot", "name": "agent_message", "value": "Alex from the shop here: how can I help?"}]
    async with http.post(f"{base}/tracker/events", json=slot, params=token) as answer:
        assert answer.status == 200, await answer.text()
    params = {**token, "output_channel": "latest"}
    async with http.post(f"{base}/execute", json={"name": "utter_agent_message"}, params=params) as answer:
        assert answer.status == 200, await answer.text()
        assert "messages" not in await answer.json()  # delivered by the Telegram output channel, not collected
    sent = await bot_api.wait_for_sent(chat, 2)
    assert sent[1]["text"] == "Alex from the shop here: how can I help?"
