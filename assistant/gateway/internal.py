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
from dataclasses import dataclass

from aiohttp import web

from assistant.gateway.config import GatewayConfig
from assistant.gateway.upload import read_upload_form, store_photo
from assistant.gateway.validation import ApiError

logger = logging.getLogger(__name__)

PHOTOS_PATH = "/internal/photos"
MIN_TOKEN_CHARS = 32


@dataclass(frozen=True)
class InternalPhotos:
    """What the photo route needs: the gateway's limits, the expected token, and its own decode limiter."""

    config: GatewayConfig
    token: bytes
    decodes: asyncio.Semaphore


INTERNAL_KEY = web.AppKey("internal_photos", InternalPhotos)


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
    """The same form reading, limits, cleaning and storing as `POST /api/upload`, for a channel's sender id; errors
    as JSON `{"error": {"code", "message"}}` (this route also works on an application without the gateway's
    error middleware)."""
    state = request.app[INTERNAL_KEY]
    config = state.config
    try:
        _check_token(request, state.token)
        if config.uploads_dir is None:
            raise ApiError(503, "uploads_disabled", "Photo uploads are switched off in this shop (no UPLOADS_DIR).")
        form = await read_upload_form(request, config)
        if form.sender_id is None:
            raise ApiError(400, "invalid_sender_id", "Field 'sender_id' (the channel's sender id) is required.")
        stored = await store_photo(
            form.photo, form.sender_id, config.uploads_dir, config.max_upload_pixels, state.decodes
        )
    except ApiError as exc:
        body = {"error": {"code": exc.code, "message": exc.message}}
        return web.json_response(body, status=exc.status, headers={"Cache-Control": "no-store", **exc.headers})
    logger.info("channel photo %s stored (%dx%d)", stored.image_id, stored.width, stored.height)
    return web.json_response({"image_id": stored.image_id}, headers={"Cache-Control": "no-store"})


def _check_token(request: web.Request, expected: bytes) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes time independent of where the strings differ, so the token cannot be guessed byte by byte
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), expected):
        raise ApiError(
            401,
            "unauthorized",
            "This route is for the shop's own processes: send 'Authorization: Bearer <token>' with the token "
            "derived from the installation's secret (SECRET_FILE).",
            headers={"WWW-Authenticate": 'Bearer realm="internal"'},
        )
