"""Routes for the shop's own processes, not for browsers: `POST /internal/photos`.

Rasa's messaging connectors (`assistant.channels.telegram`) run in the core runtime, which has neither Pillow's
cleaning rules nor the upload store. So a photo a shopper sends on Telegram is handed to the gateway here, and goes
through exactly the door a web upload goes through: streamed within `max_upload_bytes`, `sanitise_image` (real format
from the bytes, pixel limit before decoding, full decode, re-encoding) in a worker thread, then `UploadStore.save`
under that sender. The answer is the image id; the connector then sends Rasa `/share_photo{"image_id": ...}` itself,
so this route never talks to Rasa.

The gateway may listen on a public address, so the route needs `Authorization: Bearer <token>` with the token derived
from the installation's secret (`derive(secret, "internal-upload")`), compared in constant time. Errors are JSON
`{"error": {"code", "message"}}` built here, so the route answers the same in any application it is added to.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from assistant.gateway.config import GatewayConfig
from assistant.gateway.upload import read_limited
from retrieval.vision.errors import ImageTooLarge, InvalidImage
from retrieval.vision.uploads import UploadStore, sanitise_image

logger = logging.getLogger(__name__)

PHOTOS_PATH = "/internal/photos"
PHOTO_FIELD = "photo"
SENDER_FIELD = "sender_id"
CHANNEL_SENDER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A sender id as channels make them: the gateway's `web-...` ids, Telegram chat ids (`123`, `-100123`)."""
MULTIPART_OVERHEAD = 16 * 1024
FIELD_LIMIT = 1024
MIN_TOKEN_CHARS = 32


@dataclass(frozen=True)
class InternalPhotos:
    """What the photo route needs: the gateway's limits, the expected token, and its own decode limiter."""

    config: GatewayConfig
    token: bytes
    decodes: asyncio.Semaphore


INTERNAL_KEY = web.AppKey("internal_photos", InternalPhotos)


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def add_internal_routes(app: web.Application, config: GatewayConfig, token: str) -> None:
    """Register `POST /internal/photos` on `app`, guarded by `token` (at least 32 characters)."""
    if not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"the internal upload token must be at least {MIN_TOKEN_CHARS} characters; "
            'pass derive(load_secret(settings.secret_file), "internal-upload")'
        )
    app[INTERNAL_KEY] = InternalPhotos(config, token.encode("utf-8"), asyncio.Semaphore(config.max_concurrent_decodes))
    app.router.add_post(PHOTOS_PATH, _photos)


async def _photos(request: web.Request) -> web.Response:
    state = request.app[INTERNAL_KEY]
    try:
        _check_token(request, state.token)
        config = state.config
        if config.uploads_dir is None:
            raise _Refusal(503, "uploads_disabled", "Photo uploads are switched off in this shop (no UPLOADS_DIR).")
        sender_id, photo = await _read_form(request, config)
        try:
            async with state.decodes:
                image = await asyncio.to_thread(sanitise_image, photo, config.max_upload_pixels)
        except ImageTooLarge as exc:
            raise _Refusal(413, "image_too_large", str(exc)) from exc
        except InvalidImage as exc:
            raise _Refusal(415 if photo else 400, "invalid_image", str(exc)) from exc
        stored = await asyncio.to_thread(UploadStore(config.uploads_dir).save, image, sender_id)
    except _Refusal as refusal:
        return _error(refusal)
    logger.info("channel photo %s stored (%dx%d)", stored.image_id, stored.width, stored.height)
    return web.json_response({"image_id": stored.image_id}, headers={"Cache-Control": "no-store"})


def _check_token(request: web.Request, expected: bytes) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes time independent of where the strings differ, so the token cannot be guessed byte by byte
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
        raise _Refusal(
            401,
            "unauthorized",
            "This route is for the shop's own processes: send 'Authorization: Bearer <token>' with the token "
            "derived from the installation's secret (SECRET_FILE).",
            {"WWW-Authenticate": 'Bearer realm="internal"'},
        )


async def _read_form(request: web.Request, config: GatewayConfig) -> tuple[str, bytes]:
    """Stream `sender_id` + `photo` from the multipart body within the limits."""
    if request.content_length is not None and request.content_length > config.max_upload_bytes + MULTIPART_OVERHEAD:
        raise _too_large(config)
    if request.content_type != "multipart/form-data":
        raise _Refusal(415, "not_multipart", "Send multipart/form-data with a 'sender_id' field and a 'photo' file.")
    sender_id: str | None = None
    photo: bytes | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _Refusal(400, "invalid_multipart", "Nested multipart bodies are not accepted.")
            if part.name == SENDER_FIELD:
                raw = await read_limited(part, FIELD_LIMIT)
                if raw is None:
                    raise _Refusal(400, "invalid_sender_id", "Field 'sender_id' is too long.")
                sender_id = raw.decode("utf-8", errors="replace").strip()
            elif part.name == PHOTO_FIELD:
                if photo is not None:
                    raise _Refusal(400, "too_many_photos", "Send one photo per request.")
                photo = await read_limited(part, config.max_upload_bytes)
                if photo is None:
                    raise _too_large(config)
            else:
                raise _Refusal(
                    400, "unknown_field", f"Unknown field {str(part.name)[:40]!r}; send only 'sender_id' and 'photo'."
                )
    except (ValueError, AssertionError, HttpProcessingError) as exc:  # missing boundary, malformed part headers
        raise _Refusal(
            400, "invalid_multipart", "The multipart body cannot be read; check its boundary and headers."
        ) from exc
    if sender_id is None or not CHANNEL_SENDER_ID.fullmatch(sender_id):
        raise _Refusal(400, "invalid_sender_id", "Field 'sender_id' must be 1 to 64 letters, digits, '_' or '-'.")
    if photo is None:
        raise _Refusal(400, "missing_photo", "No photo in the request; attach it as the 'photo' file field.")
    return sender_id, photo


def _too_large(config: GatewayConfig) -> _Refusal:
    megabytes = config.max_upload_bytes / (1024 * 1024)
    return _Refusal(413, "photo_too_large", f"The photo is larger than {megabytes:g} MB. Send a smaller photo.")


def _error(refusal: _Refusal) -> web.Response:
    body = {"error": {"code": refusal.code, "message": refusal.message}}
    return web.json_response(body, status=refusal.status, headers={"Cache-Control": "no-store", **refusal.headers})
