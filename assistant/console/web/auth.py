"""Who may do what: the session middleware, role requirements, login and logout.

Every console route needs a logged-in, enabled account unless its handler is marked `@public` (the login form and
the static assets). `@requires(Role.ADMIN)` raises the bar for a route. Unauthenticated page loads are sent to the
login form (302, with `next`); everything else (form posts, live streams, photos, downloads by scripts) gets a
plain 401, wrong roles a 403. Every POST passes the CSRF checks of `csrf.py` before its handler runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from aiohttp import web

from assistant.console.accounts import Account, Role
from assistant.console.web import csrf, pages
from assistant.console.web.context import STAFF_KEY, Staff, console, staff
from assistant.console.web.ratelimit import LimiterUnavailable
from assistant.console.web.sessions import StaffSession

logger = logging.getLogger(__name__)

COOKIE_NAME = "shopassist_staff"
COOKIE_PATH = "/staff"
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

ROLE_RANK = {Role.AGENT: 1, Role.ADMIN: 2}


def public(handler: H) -> H:
    """Mark a handler as reachable without logging in."""
    handler.console_public = True  # type: ignore[attr-defined]
    return handler


def requires(role: Role) -> Callable[[H], H]:
    """Mark a handler as needing at least `role` (admins can do everything agents can)."""

    def mark(handler: H) -> H:
        handler.console_role = role  # type: ignore[attr-defined]
        return handler

    return mark


def _attribute(request: web.Request, name: str, default: Any) -> Any:
    """A mark `public`/`requires` left on the matched handler (unmatched paths: aiohttp's 404 handler, unmarked)."""
    return getattr(request.match_info.handler, name, default)


def _is_public(request: web.Request) -> bool:
    route = request.match_info.route
    if isinstance(getattr(route, "resource", None), web.StaticResource):
        return True  # the console's CSS, JS and icon: nothing secret, needed by the login page
    return bool(_attribute(request, "console_public", False))


def wants_html_page(request: web.Request) -> bool:
    """A browser navigating to a page (not a stream, an image or a script's request)."""
    accept = request.headers.get("Accept", "")
    return request.method in ("GET", "HEAD") and "text/html" in accept


def cookie_flags(request: web.Request) -> dict[str, Any]:
    return {
        "path": COOKIE_PATH,
        "httponly": True,
        "samesite": "Strict",
        "secure": console(request).settings.cookie_secure,
    }


def login_url(request: web.Request, next_path: str | None = None) -> str:
    url = str(request.app.router["login"].url_for())
    return f"{url}?next={quote(next_path, safe='/')}" if next_path else url


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session cookie; enforce login, role and CSRF before any handler of the console runs."""
    if _is_public(request):
        return await handler(request)
    found = await _current_staff(request)
    if found is None:
        if wants_html_page(request):
            raise web.HTTPFound(login_url(request, request.path_qs))
        raise web.HTTPUnauthorized(
            text="You are not logged in (or your session expired). Log in at /staff/login.",
            headers={"WWW-Authenticate": 'Cookie realm="staff console"'},
        )
    request[STAFF_KEY] = found
    needed = _attribute(request, "console_role", Role.AGENT)
    if ROLE_RANK[found.account.role] < ROLE_RANK[needed]:
        raise web.HTTPForbidden(text=f"This needs the {needed.value} role; you are logged in as {found.account.role}.")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.check_same_origin(request)
        form = await request.post()
        csrf.check_token(form, found.session.csrf_token)
    return await handler(request)


async def _current_staff(request: web.Request) -> Staff | None:
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    app = console(request)

    def load() -> tuple[StaffSession, Account] | None:
        session = app.sessions.lookup(token)
        if session is None:
            return None
        account = app.accounts.get(session.account_id)
        if account is None or account.disabled:
            app.sessions.delete(session.token_hash)
            return None
        return session, account

    loaded = await asyncio.to_thread(load)
    return Staff(loaded[1], loaded[0]) if loaded else None


# --- login and logout ---------------------------------------------------------------------------------------------


def safe_next(raw: str | None) -> str:
    """Where to go after login: only a path inside the console (never another site, never `//host`)."""
    default = "/staff/"
    if not raw or len(raw) > 2000 or "\\" in raw or any(ord(c) < 32 for c in raw):
        return default
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/staff/") or raw.startswith("//"):
        return default
    return raw


async def _count(update: Awaitable[None]) -> None:
    """Record a login's outcome; a Redis that just went away is logged (the next check refuses logins)."""
    try:
        await update
    except LimiterUnavailable as exc:
        logger.error("a staff login was not counted: %s", exc)


def _login_page(
    request: web.Request, token: str, status: int = 200, error: str | None = None, username: str = ""
) -> web.Response:
    response = pages.render(
        request,
        "login.html",
        {"csrf_token": token, "error": error, "username": username, "next": safe_next(request.query.get("next"))},
        status,
    )
    response.set_cookie(csrf.LOGIN_COOKIE, token, max_age=csrf.LOGIN_TOKEN_MAX_AGE_S, **cookie_flags(request))
    return response


@public
async def login_form(request: web.Request) -> web.StreamResponse:
    if await _current_staff(request) is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return _login_page(request, csrf.new_token())


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    app = console(request)
    csrf.check_same_origin(request)
    form = await request.post()
    csrf.check_token(form, request.cookies.get(csrf.LOGIN_COOKIE, ""))
    username, password = form.get("username"), form.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username.strip() or not password:
        return _login_page(request, csrf.new_token(), 400, "Enter your username and your password.", "")
    username = username.strip()
    if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        return _login_page(request, csrf.new_token(), 400, "That username or password is too long.", "")
    address = request.remote or "unknown"
    try:
        wait = await app.limiter.retry_after(address, username)
    except LimiterUnavailable as exc:
        logger.error("staff login refused: %s", exc)
        return _login_page(request, csrf.new_token(), 503, "Logging in is not possible right now; try again soon.", "")
    if wait is not None:
        minutes = max(1, round(wait / 60))
        response = _login_page(
            request,
            csrf.new_token(),
            429,
            f"Too many failed logins. Wait about {minutes} minute{'s' if minutes != 1 else ''} and try again.",
            username,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    account = await asyncio.to_thread(app.accounts.authenticate, username, password)
    if account is None or account.disabled:
        await _count(app.limiter.failed(address, username))
        logger.info("failed staff login from %s", address)
        return _login_page(request, csrf.new_token(), 401, "Wrong username or password.", username)
    await _count(app.limiter.succeeded(address, username))
    created = await asyncio.to_thread(app.sessions.create, account.id)
    await asyncio.to_thread(app.audit.record, account.username, "login", None, None)
    next_path = form.get("next")
    response = web.HTTPSeeOther(safe_next(next_path if isinstance(next_path, str) else None))
    response.set_cookie(COOKIE_NAME, created.token, **cookie_flags(request))
    response.del_cookie(csrf.LOGIN_COOKIE, path=COOKIE_PATH)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    app, me = console(request), staff(request)
    await asyncio.to_thread(app.sessions.delete, me.session.token_hash)
    await asyncio.to_thread(app.audit.record, me.account.username, "logout", None, None)
    response = web.HTTPSeeOther(login_url(request))
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH)
    raise response
