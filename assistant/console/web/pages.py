"""What every page shares: the layout's context (who is logged in, their CSRF token, a notice) and `render`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from assistant.console.accounts import Role
from assistant.console.web.context import STAFF_KEY, Staff

NOTICES = {
    "taken": "You hold this conversation: the assistant is silent until you hand it back.",
    "replied": "Reply sent.",
    "handed_back": "Handed back: the assistant answers this shopper again.",
    "tag_added": "Tag added.",
    "tag_removed": "Tag removed.",
    "note_added": "Note saved.",
    "corrected": "Correction saved; it will be in the next corrections.yml export.",
    "erased": "The conversation was erased.",
    "customer_erased": "Every conversation and shop record of that customer was erased.",
    "greeting_failed": "You hold the conversation, but the greeting did not reach the shopper: say hello.",
    "goodbye_failed": "Handed back, but the goodbye line did not reach the shopper.",
}
"""Messages shown after a form post (`?done=<key>`): fixed texts, so nothing from the URL is ever reflected."""


def base_context(request: web.Request) -> dict[str, Any]:
    """What every page's layout needs: the logged-in account (or None), its CSRF token, the current section."""
    me = request.get(STAFF_KEY)
    account = me.account if isinstance(me, Staff) else None
    return {
        "me": account,
        "is_admin": account is not None and account.role == Role.ADMIN,
        "csrf_token": me.session.csrf_token if isinstance(me, Staff) else "",
        "notice": NOTICES.get(request.query.get("done", "")),
        "nav": "",
    }


def render(request: web.Request, template: str, context: Mapping[str, Any], status: int = 200) -> web.Response:
    response = aiohttp_jinja2.render_template(template, request, base_context(request) | dict(context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response
