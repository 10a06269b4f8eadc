"""The gateway's access log without personal data: erasing a conversation must leave nothing behind in the logs.

aiohttp's default line holds the client address and the full request line, and paths and queries here can name a
shopper (`/staff/conversations/<sender id>`, `/api/uploads/<photo id>`, `?customer=...`, `?q=<search words>`). This
logger writes the method, the path with every identifier replaced by `…`, the status, the size and the time.
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

IDENTIFYING_SEGMENT = re.compile(r"(/(?:conversations|uploads|photos|customers)/)[^/?]+")
"""A path segment after one of these is an identifier (sender id, photo id, customer id)."""


def redact_path(path: str) -> str:
    """`/staff/conversations/web-abc/live?x=1` → `/staff/conversations/…/live`: no identifiers, no query."""
    bare = path.split("?", 1)[0]
    return IDENTIFYING_SEGMENT.sub(r"\1…", bare)


class RedactedAccessLogger(AbstractAccessLogger):
    """`GET /staff/conversations/…/live 200 1234 0.012s` (no client address, no query string, no identifiers)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %s %.3fs",
            request.method,
            redact_path(request.path),
            response.status,
            response.body_length,
            time,
        )
