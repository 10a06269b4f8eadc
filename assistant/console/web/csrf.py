"""Cross-site request forgery defences for every state-changing request of the console.

Two independent checks, both required on every POST:
1. same origin: the `Origin` header (or, when a browser sends none, the `Referer`) must name this host; a POST with
   neither is refused, since every browser that can be tricked into a cross-site POST sends one of them;
2. a secret token in the hidden form field `csrf_token` that must match the session's token (after login) or the
   login form's token, which lives in its own short-lived cookie (double submit) because there is no session yet.
The session cookie is also SameSite=Strict, a third layer in browsers that support it.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

FIELD = "csrf_token"
LOGIN_COOKIE = "shopassist_staff_login"
LOGIN_TOKEN_MAX_AGE_S = 30 * 60


class CsrfRejected(web.HTTPForbidden):
    """A POST failed a CSRF check; the text says which, so a person reloading the page knows what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(text=reason)
        self.reason_text = reason


def new_token() -> str:
    return secrets.token_urlsafe(32)


def check_same_origin(request: web.Request) -> None:
    """Raise `CsrfRejected` unless the request's Origin (or Referer) is this host."""
    origin = request.headers.get("Origin")
    source = origin if origin and origin != "null" else request.headers.get("Referer")
    if not source:
        raise CsrfRejected("This form was sent without an Origin or Referer header. Reload the page and try again.")
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != request.host.lower():
        raise CsrfRejected("This form was sent from another site. Reload the console page and try again.")


def check_token(form: Mapping[str, object], expected: str) -> None:
    """Raise `CsrfRejected` unless `form[FIELD]` equals `expected` (constant-time comparison)."""
    given = form.get(FIELD)
    if not isinstance(given, str) or not given or not expected:
        raise CsrfRejected("The form's security token is missing. Reload the page and try again.")
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise CsrfRejected("The form's security token is out of date. Reload the page and try again.")
