"""`POST /internal/photos`: the door a messaging connector's photo goes through (token, limits, cleaning, storage)."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from assistant.gateway import GatewayConfig
from assistant.gateway.internal import PHOTOS_PATH, add_internal_routes
from assistant.secrets import derive
from retrieval.vision.errors import UploadNotFound
from retrieval.vision.uploads import UploadStore
from tests.assistant.gateway.stubs import RasaStub
from tests.retrieval.vision import images

TOKEN = derive(b"s" * 32, "internal-upload")
TELEGRAM_CHAT = "-1001234567890"
MAX_BYTES = 2 * 1024 * 1024

InternalClient = TestClient[web.Request, web.Application]


@pytest.fixture
async def internal(config: GatewayConfig, tmp_path: Path) -> AsyncIterator[InternalClient]:
    app = web.Application()
    add_internal_routes(
        app, dataclasses.replace(config, uploads_dir=tmp_path / "uploads", max_upload_bytes=MAX_BYTES), TOKEN
    )
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


def form(photo: bytes | None, sender: str | None = TELEGRAM_CHAT) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    if sender is not None:
        data.add_field("sender_id", sender)
    if photo is not None:
        data.add_field("photo", photo, filename="telegram.jpg", content_type="image/jpeg")
    return data


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status == status, await response.text()
    assert response.headers["Content-Type"].startswith("application/json")
    error: dict[str, str] = (await response.json())["error"]
    assert error["message"]
    return error


def stored(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_a_photo_is_cleaned_and_stored_under_the_channel_sender(
    internal: InternalClient, rasa: RasaStub, tmp_path: Path
) -> None:
    response = await internal.post(PHOTOS_PATH, data=form(images.rotated_jpeg()), headers=bearer())
    assert response.status == 200, await response.text()
    image_id = (await response.json())["image_id"]
    upload = UploadStore(tmp_path / "uploads").find(image_id, TELEGRAM_CHAT)
    with Image.open(upload.path) as saved:
        assert saved.size == (600, 400) and not saved.getexif()  # upright, metadata (GPS) gone
    with pytest.raises(UploadNotFound):
        UploadStore(tmp_path / "uploads").find(image_id, "web-someone-else")
    assert rasa.received == []  # the connector tells Rasa itself


@pytest.mark.parametrize(
    "headers",
    [
        {},
        bearer("wrong"),
        bearer(TOKEN[:-1]),
        bearer(TOKEN + "0"),
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
    ids=["missing", "wrong", "prefix", "longer", "no-scheme", "basic"],
)
async def test_without_the_right_token_the_answer_is_401_and_nothing_is_stored(
    internal: InternalClient, tmp_path: Path, headers: dict[str, str]
) -> None:
    response = await internal.post(PHOTOS_PATH, data=form(images.coffee_jpeg()), headers=headers)
    assert (await error_of(response, 401))["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(tmp_path) == []


async def test_the_token_is_compared_in_constant_time(
    internal: InternalClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)  # the module internal.py calls through
    await internal.post(PHOTOS_PATH, data=form(images.coffee_jpeg()), headers=bearer("nope"))
    await internal.post(PHOTOS_PATH, data=form(images.coffee_jpeg()), headers=bearer())
    assert calls == [(b"nope", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        (images.HTML, 415, "invalid_image"),
        (images.SVG, 415, "invalid_image"),
        (images.polyglot_html_jpeg(), 415, "invalid_image"),
        (images.truncated_jpeg(), 415, "invalid_image"),
        (b"", 400, "invalid_image"),
        (images.png_bomb(), 413, "image_too_large"),
    ],
    ids=["html", "svg", "polyglot", "truncated", "empty", "bomb"],
)
async def test_files_that_are_not_acceptable_photos_are_refused(
    internal: InternalClient, tmp_path: Path, photo: bytes, status: int, code: str
) -> None:
    response = await internal.post(PHOTOS_PATH, data=form(photo), headers=bearer())
    assert (await error_of(response, status))["code"] == code
    assert stored(tmp_path) == []


async def test_a_photo_over_the_byte_limit_is_refused_with_413(internal: InternalClient, tmp_path: Path) -> None:
    response = await internal.post(PHOTOS_PATH, data=form(bytes(MAX_BYTES + 1)), headers=bearer())
    error = await error_of(response, 413)
    assert error["code"] == "photo_too_large" and "2 MB" in error["message"]
    assert stored(tmp_path) == []


async def test_a_chunked_photo_is_cut_off_at_the_limit(internal: InternalClient, tmp_path: Path) -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield images.coffee_jpeg()
        for _ in range(30):
            sent += 1
            yield bytes(1024 * 1024)

    data = aiohttp.FormData()
    data.add_field("sender_id", TELEGRAM_CHAT)
    data.add_field("photo", endless(), filename="big.jpg", content_type="image/jpeg")
    try:
        response = await internal.post(PHOTOS_PATH, data=data, headers=bearer())
        assert (await error_of(response, 413))["code"] == "photo_too_large"
    except aiohttp.ClientError:
        pass  # the server may close the connection before the client has finished sending: also a refusal
    assert sent < 30 and stored(tmp_path) == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (form(images.coffee_jpeg(), sender=None), "invalid_sender_id"),
        (form(images.coffee_jpeg(), sender="../../etc/passwd"), "invalid_sender_id"),
        (form(images.coffee_jpeg(), sender="x" * 65), "invalid_sender_id"),
        (form(None), "missing_photo"),
    ],
    ids=["no-sender", "path-sender", "long-sender", "no-photo"],
)
async def test_malformed_forms_get_400(internal: InternalClient, data: aiohttp.FormData, code: str) -> None:
    assert (await error_of(await internal.post(PHOTOS_PATH, data=data, headers=bearer()), 400))["code"] == code


async def test_unknown_fields_and_two_photos_get_400(internal: InternalClient) -> None:
    extra = form(images.coffee_jpeg())
    extra.add_field("image_id", "0" * 32)
    assert (await error_of(await internal.post(PHOTOS_PATH, data=extra, headers=bearer()), 400))["code"] == (
        "unknown_field"
    )
    two = form(images.coffee_jpeg())
    two.add_field("photo", images.coffee_jpeg(), filename="b.jpg", content_type="image/jpeg")
    assert (await error_of(await internal.post(PHOTOS_PATH, data=two, headers=bearer()), 400))["code"] == (
        "too_many_photos"
    )


async def test_only_multipart_is_accepted(internal: InternalClient) -> None:
    response = await internal.post(PHOTOS_PATH, json={"sender_id": TELEGRAM_CHAT, "photo": "x"}, headers=bearer())
    assert (await error_of(response, 415))["code"] == "not_multipart"


async def test_a_broken_multipart_body_gets_400(internal: InternalClient) -> None:
    headers = {**bearer(), "Content-Type": "multipart/form-data; boundary=xyz"}
    response = await internal.post(PHOTOS_PATH, data=b"--xyz\r\nnot headers at all", headers=headers)
    assert response.status == 400, await response.text()


async def test_uploads_switched_off_answer_503(config: GatewayConfig) -> None:
    app = web.Application()
    add_internal_routes(app, dataclasses.replace(config, uploads_dir=None), TOKEN)
    async with TestClient(TestServer(app)) as client:
        response = await client.post(PHOTOS_PATH, data=form(images.coffee_jpeg()), headers=bearer())
        assert (await error_of(response, 503))["code"] == "uploads_disabled"


@pytest.mark.parametrize("token", ["", "short-token"])
def test_a_weak_token_is_refused_when_the_routes_are_added(config: GatewayConfig, token: str) -> None:
    with pytest.raises(ValueError, match="internal-upload"):
        add_internal_routes(web.Application(), config, token)
