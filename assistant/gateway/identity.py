"""Who a shopper is: an unguessable sender id the gateway makes and binds to a signed cookie.

The page never chooses its own id: the gateway issues `shopassist_sid = "<sender_id>.<hmac>"` (HttpOnly,
SameSite=Lax, `Secure` behind TLS) on the first request, and every shopper API reads the sender id from it. So one
shopper cannot read another's history by sending a different id, and a forged or tampered cookie is simply replaced
by a new identity. Sender ids are `web-` + 144 random bits. Logs carry a short keyed hash of the id, never the id,
so an erased conversation leaves nothing that links back to it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from http.cookies import Morsel

from aiohttp import web

COOKIE_NAME = "shopassist_sid"
COOKIE_MAX_AGE_S = 180 * 24 * 3600
"""Half a year: a shopper coming back finds their conversation (retention may delete it earlier)."""
WEB_SENDER_ID = re.compile(r"web-[A-Za-z0-9_-]{24}")
SIGNATURE_HEX = 32


def new_sender_id() -> str:
    """`web-` + 18 random bytes, URL-safe: unguessable, and within the 64-character sender id pattern."""
    return "web-" + secrets.token_urlsafe(18)


class ShopperCookies:
    """Signs and checks the shopper cookie with the key `derive(secret, "shopper-cookie")`."""

    def __init__(self, key: str, secure: bool = False) -> None:
        self._key = key.encode("utf-8")
        self.secure = secure

    def _signature(self, sender_id: str) -> str:
        return hmac.new(self._key, sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]

    def value(self, sender_id: str) -> str:
        """The cookie value for `sender_id`."""
        return f"{sender_id}.{self._signature(sender_id)}"

    def sender_id(self, value: str | None) -> str | None:
        """The sender id in a cookie value, or None when it is missing, malformed or not signed by this key."""
        if not value:
            return None
        sender_id, _, signature = value.rpartition(".")
        if not WEB_SENDER_ID.fullmatch(sender_id):
            return None
        return sender_id if hmac.compare_digest(signature, self._signature(sender_id)) else None

    def set(self, response: web.StreamResponse, sender_id: str) -> None:
        """Add the cookie to `response`'s headers (works from an `on_response_prepare` hook, where aiohttp's own
        `set_cookie` is too late: its cookies are already written into the headers by then)."""
        morsel: Morsel[str] = Morsel()
        morsel.set(COOKIE_NAME, self.value(sender_id), self.value(sender_id))
        morsel.update({"max-age": str(COOKIE_MAX_AGE_S), "path": "/", "samesite": "Lax"})
        morsel["httponly"] = True
        if self.secure:
            morsel["secure"] = True
        response.headers.add("Set-Cookie", morsel.OutputString())


def log_id(key: str, sender_id: str) -> str:
    """A 12-character keyed hash of a sender id for log lines (`derive(secret, "log")`): the same shopper gets the
    same tag, and nothing in the logs reveals or stores the id itself."""
    return hmac.new(key.encode("utf-8"), sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:12]
