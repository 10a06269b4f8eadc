"""Checking a `POST /api/chat` body: every rejection is an `ApiError` whose message says how to fix the request."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

SENDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
FIELDS = ("sender_id", "text")
REQUIRED = ("text",)
EXAMPLE = '{"text": "red lunch bag"}'


class ApiError(Exception):
    """A request the gateway refuses: the HTTP status, a stable machine-readable code and a human message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class ChatRequest:
    sender_id: str | None
    """The id the body names, if any: the gateway takes the shopper's id from their cookie and refuses a different
    one (403)."""
    text: str
    """The shopper's text with control characters removed (newlines kept); otherwise verbatim."""


def parse_chat_request(content_type: str, body: bytes, max_message_chars: int) -> ChatRequest:
    """Parse and check one chat request body. Raises `ApiError`."""
    if content_type != "application/json":
        raise ApiError(
            400, "invalid_json", f"Send the message as JSON with 'Content-Type: application/json', e.g. {EXAMPLE}."
        )
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid_json", f"The request body is not valid UTF-8 JSON; send e.g. {EXAMPLE}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_body", f"The request body must be a JSON object such as {EXAMPLE}.")

    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown field(s) {_names(unknown)}; a chat message has only 'text' (and optionally 'sender_id'), "
            f"e.g. {EXAMPLE}.",
        )
    missing = [field for field in REQUIRED if field not in data]
    if missing:
        raise ApiError(400, "missing_field", f"Missing field(s) {_names(missing)}; send e.g. {EXAMPLE}.")
    for field in FIELDS:
        if field in data and not isinstance(data[field], str):
            raise ApiError(
                400,
                "invalid_type",
                f"Field '{field}' must be a string, not {_json_type(data[field])}; send e.g. {EXAMPLE}.",
            )

    sender_id: str | None = data.get("sender_id")
    if sender_id is not None and not SENDER_ID_PATTERN.fullmatch(sender_id):
        raise ApiError(
            400,
            "invalid_sender_id",
            "Field 'sender_id' must be 1 to 64 characters, each a letter, digit, '_' or '-' (a UUID works).",
        )
    text = clean_text(data["text"])
    if not text.strip():
        raise ApiError(400, "empty_text", "The message is empty; type something to send.")
    if len(text) > max_message_chars:
        raise ApiError(
            413,
            "text_too_long",
            f"The message is {len(text)} characters long; the limit is {max_message_chars}. Shorten it and send again.",
        )
    return ChatRequest(sender_id=sender_id, text=text)


def clean_text(text: str) -> str:
    """Remove control characters and lone surrogates; keep newlines (CR LF and CR become LF) and turn tabs into
    spaces. Everything else, markup and SQL included, is the shopper's text and passes unchanged."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _names(fields: list[str], shown: int = 5) -> str:
    names = ", ".join(repr(field[:40]) for field in fields[:shown])
    return names + (f" and {len(fields) - shown} more" if len(fields) > shown else "")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"
