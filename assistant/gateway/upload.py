"""`POST /api/upload`: a shopper's photo, read within limits, cleaned, stored, and announced to Rasa.

The body is `multipart/form-data` with a `photo` file part (and optionally a `sender_id` field, which must then be
the shopper's own id from their cookie). It is streamed: a declared
Content-Length over the limit is refused before reading anything, and an undeclared (chunked) body is refused as
soon as the photo passes `max_upload_bytes`, so a 50 MB upload never sits in memory. The bytes then go through
`retrieval.vision.uploads.sanitise_image` (real format from the bytes, pixel limit before decoding, full decode,
EXIF rotation, re-encoding) in a worker thread, at most `max_concurrent_decodes` at a time.

Also here: the guard that keeps typed text from acting as a Rasa command. Rasa reads a message starting with '/' as
an intent with entities (`/share_photo{"image_id": "..."}`), so typed text starting with '/' is only passed on when it
is exactly the payload of a button this gateway showed to the same sender; otherwise the leading '/' is dropped and
the words go to NLU as ordinary text.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from assistant.gateway.config import GatewayConfig
from assistant.gateway.messages import ChatItem
from assistant.gateway.validation import SENDER_ID_PATTERN, ApiError
from retrieval.vision.errors import ImageTooLarge, InvalidImage
from retrieval.vision.uploads import StoredUpload, UploadStore, sanitise_image

PHOTO_FIELD = "photo"
SENDER_FIELD = "sender_id"
MULTIPART_OVERHEAD = 16 * 1024
"""Room for the multipart boundaries, headers and the sender field on top of the photo itself."""
FIELD_LIMIT = 1024
CHUNK = 64 * 1024
SHARE_PHOTO_INTENT = "share_photo"


@dataclass(frozen=True)
class UploadForm:
    sender_id: str | None
    photo: bytes
    filename: str | None


def too_large(config: GatewayConfig) -> ApiError:
    megabytes = config.max_upload_bytes / (1024 * 1024)
    return ApiError(413, "photo_too_large", f"The photo is larger than {megabytes:g} MB. Send a smaller photo.")


async def read_upload_form(request: web.Request, config: GatewayConfig) -> UploadForm:
    """Stream the multipart body within the limits. Raises `ApiError` (400, 413, 415)."""
    if request.content_length is not None and request.content_length > config.max_upload_bytes + MULTIPART_OVERHEAD:
        raise too_large(config)
    if request.content_type != "multipart/form-data":
        raise ApiError(
            415,
            "not_multipart",
            "Send the photo as multipart/form-data with a 'photo' file field.",
        )
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:  # aiohttp: missing boundary and the like
        raise ApiError(400, "invalid_multipart", f"The multipart body cannot be read: {exc}") from exc
    sender_id: str | None = None
    photo: bytes | None = None
    filename: str | None = None
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "invalid_multipart", "Nested multipart bodies are not accepted.")
            if part.name == SENDER_FIELD:
                raw = await read_limited(part, FIELD_LIMIT)
                if raw is None:
                    raise ApiError(400, "invalid_sender_id", "Field 'sender_id' is too long.")
                sender_id = raw.decode("utf-8", errors="replace").strip()
            elif part.name == PHOTO_FIELD:
                if photo is not None:
                    raise ApiError(400, "too_many_photos", "Send one photo at a time.")
                filename = part.filename
                photo = await read_limited(part, config.max_upload_bytes)
                if photo is None:
                    raise too_large(config)
            else:
                raise ApiError(
                    400, "unknown_field", f"Unknown field {str(part.name)[:40]!r}; send only 'sender_id' and 'photo'."
                )
    except (ValueError, HttpProcessingError) as exc:  # a malformed part (bad headers, broken boundary)
        raise ApiError(
            400, "invalid_multipart", "The multipart body cannot be read; check its boundary and headers."
        ) from exc
    if sender_id is not None and not SENDER_ID_PATTERN.fullmatch(sender_id):
        raise ApiError(
            400,
            "invalid_sender_id",
            "Field 'sender_id' must be 1 to 64 characters, each a letter, digit, '_' or '-' (a UUID works).",
        )
    if photo is None:
        raise ApiError(400, "missing_photo", "No photo in the upload; attach it as the 'photo' file field.")
    return UploadForm(sender_id, photo, filename)


async def read_limited(part: BodyPartReader, limit: int) -> bytes | None:
    """The part's bytes, or None as soon as they pass `limit` (the rest is never read into memory)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def store_photo(
    photo: bytes, sender_id: str, uploads_dir: Path, max_pixels: int, decodes: asyncio.Semaphore
) -> StoredUpload:
    """Clean one photo (`sanitise_image`, off the event loop, at most `decodes` at a time: each may take ~100 MB)
    and store it under a random id bound to `sender_id`. Raises `ApiError` 413 (too many pixels) or 415/400."""
    try:
        async with decodes:
            image = await asyncio.to_thread(sanitise_image, photo, max_pixels)
    except ImageTooLarge as exc:
        raise ApiError(413, "image_too_large", str(exc)) from exc
    except InvalidImage as exc:
        raise ApiError(415 if photo else 400, "invalid_image", str(exc)) from exc
    return await asyncio.to_thread(UploadStore(uploads_dir).save, image, sender_id)


def share_photo_message(image_id: str) -> str:
    """The message that triggers the photo action in Rasa: `/share_photo{"image_id": "<id>"}`."""
    return f"/{SHARE_PHOTO_INTENT}{json.dumps({'image_id': image_id})}"


class OfferedPayloads:
    """The button payloads recently shown to each sender (bounded: the most recent senders, a few payloads each)."""

    def __init__(self, max_senders: int = 10_000, per_sender: int = 32) -> None:
        self._offered: OrderedDict[str, list[str]] = OrderedDict()
        self._max_senders = max_senders
        self._per_sender = per_sender

    def remember(self, sender_id: str, items: Iterable[ChatItem]) -> None:
        payloads = [b["payload"] for item in items if item["type"] == "buttons" for b in item["buttons"]]
        if not payloads:
            return
        known = [p for p in self._offered.pop(sender_id, []) if p not in payloads] + payloads
        self._offered[sender_id] = known[-self._per_sender :]
        while len(self._offered) > self._max_senders:
            self._offered.popitem(last=False)

    def guard(self, sender_id: str, text: str) -> str:
        """`text` as it may be sent to Rasa: a '/' command only when it is a payload offered to this sender."""
        stripped = text.strip()
        if not stripped.startswith("/"):
            return text
        if stripped in self._offered.get(sender_id, ()) and not stripped.startswith(f"/{SHARE_PHOTO_INTENT}"):
            return stripped
        words = stripped.lstrip("/").strip()
        if not words:
            raise ApiError(400, "empty_text", "The message is empty; type something to send.")
        return words
