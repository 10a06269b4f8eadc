"""`POST /api/upload`: the photo rules through the real gateway (Rasa is the stub), and the guard on typed commands."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.assistant.gateway.conftest import WEB, GatewayClient, MakeGateway
from tests.assistant.gateway.stubs import RasaStub, Reply
from tests.retrieval.vision import images

SENDER = "shopper-1"
MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture
async def uploader(make_gateway: MakeGateway, tmp_path: Path) -> GatewayClient:
    return await make_gateway(uploads_dir=tmp_path / "uploads", max_upload_bytes=MAX_BYTES)


def form(photo: bytes | None, sender: str | None = None, filename: str = "photo.jpg") -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    if sender is not None:
        data.add_field("sender_id", sender)
    if photo is not None:
        data.add_field("photo", photo, filename=filename, content_type="image/jpeg")
    return data


async def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status == status, await response.text()
    error: dict[str, str] = (await response.json())["error"]
    return error


def stored_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "uploads"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_a_photo_is_stored_and_announced_to_rasa_as_share_photo(
    uploader: GatewayClient, rasa: RasaStub, tmp_path: Path
) -> None:
    rasa.script(Reply(json=[{"recipient_id": SENDER, "text": "That looks like a mug."}]))
    response = await uploader.post("/api/upload", data=form(images.rotated_jpeg()))
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["messages"] == [{"type": "text", "text": "That looks like a mug."}]
    image_id = body["image_id"]
    assert rasa.received == [{"sender": WEB, "message": f'/share_photo{{"image_id": "{image_id}"}}'}]
    meta = json.loads((tmp_path / "uploads" / f"{image_id}.json").read_text())
    assert meta["sender_id"] == rasa.received[0]["sender"]  # bound to the shopper of the cookie
    with Image.open(tmp_path / "uploads" / f"{image_id}.jpg") as saved:
        assert saved.size == (600, 400) and not saved.getexif()  # upright, metadata gone


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        (images.HTML, 415, "invalid_image"),
        (images.SVG, 415, "invalid_image"),
        (images.PDF, 415, "invalid_image"),
        (b"MZ\x90\x00 this is an .exe renamed photo.jpg", 415, "invalid_image"),
        (images.polyglot_html_jpeg(), 415, "invalid_image"),
        (b"", 400, "invalid_image"),
        (images.truncated_jpeg(), 415, "invalid_image"),
        (images.corrupt_jpeg(), 415, "invalid_image"),
        (images.png_bomb(), 413, "image_too_large"),
    ],
    ids=["html", "svg", "pdf", "exe", "polyglot", "empty", "truncated", "corrupt", "bomb"],
)
async def test_bad_files_get_a_clear_4xx_and_nothing_is_stored(
    uploader: GatewayClient, rasa: RasaStub, tmp_path: Path, photo: bytes, status: int, code: str
) -> None:
    error = await error_of(await uploader.post("/api/upload", data=form(photo)), status)
    assert error["code"] == code and error["message"]
    assert rasa.received == [] and stored_files(tmp_path) == []


@pytest.mark.parametrize(
    "photo",
    [images.cmyk_jpeg(), images.png_16bit(), images.animated_png(), images.animated_webp(), images.scrambled_jpeg()],
    ids=["cmyk", "16-bit", "apng", "animated-webp", "scrambled"],
)
async def test_unusual_but_valid_photos_are_accepted(uploader: GatewayClient, rasa: RasaStub, photo: bytes) -> None:
    response = await uploader.post("/api/upload", data=form(photo, filename="x.png"))
    assert response.status == 200, await response.text()
    assert rasa.received[-1]["message"].startswith("/share_photo")


async def test_an_upload_over_the_size_limit_is_refused_from_its_content_length(
    uploader: GatewayClient, rasa: RasaStub
) -> None:
    big = bytes(50 * 1024 * 1024)
    error = await error_of(await uploader.post("/api/upload", data=form(big)), 413)
    assert error["code"] == "photo_too_large" and "2 MB" in error["message"]
    assert rasa.received == []


async def test_a_chunked_upload_is_cut_off_at_the_limit_while_streaming(
    uploader: GatewayClient, rasa: RasaStub
) -> None:
    sent = 0

    async def endless_photo() -> AsyncIterator[bytes]:
        nonlocal sent
        yield images.coffee_jpeg()
        for _ in range(50):  # 50 MB more, never declared up front
            sent += 1
            yield bytes(1024 * 1024)

    data = aiohttp.FormData()
    data.add_field("photo", endless_photo(), filename="big.jpg", content_type="image/jpeg")
    try:
        response = await uploader.post("/api/upload", data=data)
        error = await error_of(response, 413)
        assert error["code"] == "photo_too_large"
    except aiohttp.ClientError:
        pass  # the server may close the connection before the client has finished sending: also a refusal
    assert rasa.received == []
    assert sent < 50  # the gateway stopped reading long before the end


async def test_memory_stays_bounded_during_a_bomb_and_a_big_upload(uploader: GatewayClient) -> None:
    tracemalloc.start()
    try:
        bomb = await uploader.post("/api/upload", data=form(images.png_bomb()))
        assert bomb.status == 413
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024  # the 400 MB of bomb pixels are never allocated


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (form(images.coffee_jpeg(), sender="../../etc"), "invalid_sender_id"),
        (form(None), "missing_photo"),
    ],
    ids=["bad-sender", "no-photo"],
)
async def test_malformed_forms_are_refused(uploader: GatewayClient, data: aiohttp.FormData, code: str) -> None:
    assert (await error_of(await uploader.post("/api/upload", data=data), 400))["code"] == code


async def test_an_upload_for_someone_else_is_refused(uploader: GatewayClient, rasa: RasaStub, tmp_path: Path) -> None:
    response = await uploader.post(
        "/api/upload", data=form(images.coffee_jpeg(), sender="web-someoneelse0000000000000")
    )
    assert (await error_of(response, 403))["code"] == "sender_mismatch"
    assert rasa.received == [] and stored_files(tmp_path) == []


async def test_only_multipart_is_accepted(uploader: GatewayClient) -> None:
    error = await error_of(await uploader.post("/api/upload", json={"photo": "x"}), 415)
    assert error["code"] == "not_multipart"


async def test_a_part_with_malformed_headers_is_a_clear_400(uploader: GatewayClient, rasa: RasaStub) -> None:
    body = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
        b"Bad Header Without Colon\r\n\r\n"
        b"\xff\xd8\xff\r\n--b0undary--\r\n"
    )
    response = await uploader.post(
        "/api/upload", data=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )
    assert (await error_of(response, 400))["code"] == "invalid_multipart"
    assert rasa.received == []


async def test_unknown_fields_are_refused(uploader: GatewayClient) -> None:
    data = form(images.coffee_jpeg())
    data.add_field("image_id", "0" * 32)
    assert (await error_of(await uploader.post("/api/upload", data=data), 400))["code"] == "unknown_field"


async def test_uploads_can_be_switched_off(gateway: GatewayClient) -> None:
    error = await error_of(await gateway.post("/api/upload", data=form(images.coffee_jpeg())), 503)
    assert error["code"] == "uploads_disabled"


async def test_photos_are_decoded_off_the_event_loop(uploader: GatewayClient, rasa: RasaStub) -> None:
    """While a bomb is being refused and photos decoded, the gateway still answers its health check at once."""
    uploads = [uploader.post("/api/upload", data=form(images.coffee_jpeg())) for _ in range(4)]
    health = uploader.get("/healthz")
    results = await asyncio.gather(*uploads, health)
    assert all(r.status == 200 for r in results)


# --- typed text that looks like a Rasa command -------------------------------------------------------------------


async def test_typed_intents_and_forged_image_ids_are_neutralised(gateway: GatewayClient, rasa: RasaStub) -> None:
    forged = '/share_photo{"image_id": "' + "a" * 32 + '"}'
    for text in (forged, "/greet", "  //checkout"):
        response = await gateway.post("/api/chat", json={"text": text})
        assert response.status == 200
    sent = [m["message"] for m in rasa.received]
    assert sent == ['share_photo{"image_id": "' + "a" * 32 + '"}', "greet", "checkout"]
    assert not any(message.startswith("/") for message in sent)


async def test_a_button_payload_shown_to_the_sender_still_works(gateway: GatewayClient, rasa: RasaStub) -> None:
    rasa.script(
        Reply(json=[{"recipient_id": SENDER, "text": "Place it?", "buttons": [{"title": "Yes", "payload": "/affirm"}]}])
    )
    await gateway.post("/api/chat", json={"text": "checkout"})
    await gateway.post("/api/chat", json={"text": "/affirm"})
    gateway.session.cookie_jar.clear()  # another shopper: the payload was not offered to them
    await gateway.post("/api/chat", json={"text": "/affirm"})
    assert [m["message"] for m in rasa.received] == ["checkout", "/affirm", "affirm"]


async def test_a_lone_slash_is_an_empty_message(gateway: GatewayClient) -> None:
    error = await error_of(await gateway.post("/api/chat", json={"text": " / "}), 400)
    assert error["code"] == "empty_text"


def test_upload_limits_come_from_the_settings(tmp_path: Path) -> None:
    from assistant.gateway import GatewayConfig
    from assistant.settings import load_settings

    settings = load_settings({"STATE_DIR": str(tmp_path), "MAX_UPLOAD_BYTES": "1048576"})
    config = GatewayConfig.from_settings(settings)
    assert config.uploads_dir == tmp_path / "uploads" and config.max_upload_bytes == 1048576
    assert dataclasses.replace(config, max_upload_pixels=10).max_upload_pixels == 10


async def test_the_page_has_an_accessible_photo_button_for_the_three_formats(make_gateway: MakeGateway) -> None:
    page = await (await make_gateway(max_upload_bytes=MAX_BYTES)).get("/")
    html = await page.text()
    assert 'id="photo-button" type="button" class="photo-button" aria-label="Send a photo"' in html
    assert 'id="photo" type="file" accept="image/jpeg,image/png,image/webp" hidden' in html
    assert f'data-max-upload-bytes="{MAX_BYTES}"' in html and "drop it on the chat" in html
