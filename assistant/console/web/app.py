"""The staff console as an aiohttp sub-application, mounted by the gateway at `/staff/` (same process and port).

Server-side Jinja2 templates with autoescape, local CSS/JS only, a strict Content-Security-Policy (no inline script
or style), sessions in the catalog DB, CSRF checks on every POST, a login rate limit, and HTML error pages. A
background task keeps the conversation index in step with Rasa's tracker store, carries out shoppers' erasure
requests and, when `RETENTION_DAYS` is set, purges old conversations once a day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy import Engine, inspect

from assistant.console.accounts import AccountStore
from assistant.console.annotations import Annotations, domain_intents
from assistant.console.audit import AuditLog
from assistant.console.handoffs import HandoffQueue
from assistant.console.index import ConversationIndex
from assistant.console.insight import Insight
from assistant.console.privacy import Eraser
from assistant.console.transcripts import TrackerReader
from assistant.console.web import pages, views
from assistant.console.web.auth import auth_middleware, wants_html_page
from assistant.console.web.context import CONSOLE_KEY, Console
from assistant.console.web.handoff import HandoffService
from assistant.console.web.ratelimit import LoginLimiter, make_limiter
from assistant.console.web.sessions import SessionStore
from assistant.gateway.live import LiveHub
from assistant.gateway.rasa_client import RasaClient
from assistant.settings import PROJECT_ROOT, Settings
from catalog.db import make_engine
from retrieval.vision.uploads import UploadStore

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
SYNC_INTERVAL_S = 5.0
PURGE_EVERY_S = 24 * 3600.0
SESSION_PURGE_EVERY_S = 3600.0
INSIGHT_WARM_EVERY_S = 50.0
"""Recompute the insight figures this often in the background: just inside `Insight`'s 60 s cache, so the page is
always served from it (cold, the figures take seconds at 100k conversations)."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # the Referer is the CSRF check's fallback when a browser omits Origin
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STATUS_TEXT = {
    400: "The request was not understood.",
    401: "You are not logged in.",
    403: "You may not do this.",
    404: "There is nothing here.",
    405: "This page does not accept that kind of request.",
    409: "That clashes with what someone else just did.",
    413: "What you sent is too large.",
    429: "Too many requests; wait a little and try again.",
    500: "Something went wrong in the console. The error is in the gateway's log.",
    503: "A service the console needs is not reachable right now. Try again in a moment.",
}
KEPT_HEADERS = ("Retry-After", "Allow", "WWW-Authenticate")


def create_console_app(
    settings: Settings,
    rasa: RasaClient,
    hub: LiveHub,
    engine: Engine | None = None,
    *,
    sync_interval_s: float | None = SYNC_INTERVAL_S,
    limiter: LoginLimiter | None = None,
    accounts: AccountStore | None = None,
) -> web.Application:
    """The staff console. Mount it with `app.add_subapp("/staff/", console)`; it uses the catalog DB (`engine`,
    default: one made from `settings.database_url` and disposed on clean-up) and Rasa's tracker store.
    `sync_interval_s=None` turns the background task off (tests drive sync themselves); `limiter` and `accounts`
    replace the default login rate limit (shared through Redis when `REDIS_URL` is set) and account store (tests use
    a cheaper password hasher)."""
    own_engine = engine is None
    engine = engine if engine is not None else make_engine(settings.database_url)
    audit = AuditLog(engine)
    queue = HandoffQueue(engine)
    intents = domain_intents(PROJECT_ROOT / "domain.yml")
    app = web.Application(middlewares=[_html_errors, auth_middleware])
    app[CONSOLE_KEY] = Console(
        settings=settings,
        engine=engine,
        rasa=rasa,
        hub=hub,
        sessions=SessionStore(engine, timedelta(minutes=settings.console_session_minutes)),
        limiter=limiter or make_limiter(settings.redis_url),
        accounts=accounts or AccountStore(engine),
        audit=audit,
        reader=TrackerReader(settings.tracker_db_url),
        queue=queue,
        annotations=Annotations(engine, intents),
        insight=Insight(engine, settings.tracker_db_url),
        uploads=UploadStore(settings.uploads_dir),
        handoff=HandoffService(queue, rasa, hub, audit),
        eraser=Eraser(
            engine, settings.tracker_db_url, settings.uploads_dir, audit, log_dir=settings.state_dir / "logs"
        ),
        intents=intents,
    )
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    aiohttp_jinja2.get_env(app).filters["when"] = views.when
    views.add_routes(app, STATIC_DIR)
    app.on_startup.append(_require_schema)
    app.on_startup.append(_asset_urls)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_end_streams)
    if sync_interval_s is not None:
        app.cleanup_ctx.append(_maintenance(sync_interval_s))
    app.on_cleanup.append(_close(app[CONSOLE_KEY], own_engine))
    return app


class ConsoleNotReady(RuntimeError):
    """The console cannot start; the message says what to run."""


REQUIRED_TABLES = ("staff_accounts", "staff_sessions", "conversations", "audit_log", "handoffs")


async def _require_schema(app: web.Application) -> None:
    """Fail at start-up, with the fix, when the catalog DB lacks the console's tables (migration 0005)."""
    engine = app[CONSOLE_KEY].engine

    def missing() -> list[str]:
        tables = set(inspect(engine).get_table_names())
        return [name for name in REQUIRED_TABLES if name not in tables]

    absent = await asyncio.to_thread(missing)
    if absent:
        raise ConsoleNotReady(
            f"the catalog database {engine.url!r} has no {', '.join(absent)} table(s) for the staff console; "
            "run `make build` (it migrates the catalog) or `.venv-app/bin/python -m catalog build`"
        )


async def _asset_urls(app: web.Application) -> None:
    """Versioned asset URLs, known only once the app is mounted (they include the `/staff` prefix)."""
    static = app.router["static"]
    assert isinstance(static, web.StaticResource)
    env = aiohttp_jinja2.get_env(app)
    files = {"css": "console.css", "js": "console.js", "icon": "favicon.svg"}
    env.globals["assets"] = {
        key: str(static.url_for(filename=name, append_version=True)) for key, name in files.items()
    }


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value  # over the gateway's defaults: the console's policy is its own


async def _end_streams(app: web.Application) -> None:
    for stop in list(app[CONSOLE_KEY].streams):
        stop.set()


def _close(console: Console, own_engine: bool) -> Callable[[web.Application], Awaitable[None]]:
    async def close(app: web.Application) -> None:
        console.eraser.close()
        console.insight.close()
        await console.limiter.aclose()
        console.reader.dispose()
        if own_engine:
            console.engine.dispose()

    return close


# --- errors -------------------------------------------------------------------------------------------------------


@web.middleware
async def _html_errors(request: web.Request, handler: views.Handler) -> web.StreamResponse:
    """Errors as pages a person can read (or plain text for streams, images and scripts); never a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_response(
            request, exc.status, _message(exc), {k: v for k, v in exc.headers.items() if k in KEPT_HEADERS}
        )
    except Exception:
        logger.exception("unhandled error in the staff console: %s %s", request.method, request.path)
        return _error_response(request, 500, STATUS_TEXT[500], {})


def _message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if not text or text == f"{exc.status}: {exc.reason}":
        return STATUS_TEXT.get(exc.status, exc.reason)
    return text


def _error_response(request: web.Request, status: int, message: str, headers: dict[str, str]) -> web.Response:
    if wants_html_page(request) or request.method == "POST":
        try:
            response = aiohttp_jinja2.render_template(
                "error.html",
                request,
                pages.base_context(request) | {"status": status, "message": message},
                status=status,
            )
        except Exception:
            logger.exception("could not render the error page")
            response = web.Response(status=status, text=message)
    else:
        response = web.Response(status=status, text=message)
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- background work ------------------------------------------------------------------------------------------------


def _maintenance(interval_s: float) -> Callable[[web.Application], AsyncIterator[None]]:
    async def run(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_maintenance_loop(app[CONSOLE_KEY], interval_s), name="console-maintenance")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run


class _Step:
    """One periodic job; logs its failures (once per distinct error, not every 5 seconds) and never raises."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._last_error: str | None = None

    def run(self, job: Callable[[], object]) -> None:
        try:
            result = job()
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_error:
                logger.warning("console %s failed (retrying every few seconds): %s", self.name, message)
                self._last_error = message
            return
        if self._last_error is not None:
            logger.info("console %s works again", self.name)
            self._last_error = None
        if result:
            logger.debug("console %s: %s", self.name, result)


async def _maintenance_loop(console: Console, interval_s: float) -> None:
    settings = console.settings
    index = ConversationIndex(console.engine, console.reader)
    eraser = console.eraser
    erase, sync, purge, sessions = _Step("erasure"), _Step("index sync"), _Step("retention purge"), _Step("sessions")
    warm = _Step("insight figures")
    last_purge = last_session_purge = last_warm = float("-inf")

    def warm_insight() -> None:
        views.insight_charts(console.insight)

    def tick(now: float) -> None:
        nonlocal last_purge, last_session_purge, last_warm
        erase.run(eraser.process_requests)
        sync.run(index.sync)
        if settings.retention_days > 0 and now - last_purge >= PURGE_EVERY_S:
            purge.run(lambda: eraser.purge_older_than(settings.retention_days))
            last_purge = now
        if now - last_session_purge >= SESSION_PURGE_EVERY_S:
            sessions.run(console.sessions.purge_expired)
            last_session_purge = now
        if now - last_warm >= INSIGHT_WARM_EVERY_S:
            warm.run(warm_insight)
            last_warm = now

    while True:
        await asyncio.to_thread(tick, time.monotonic())
        await asyncio.sleep(interval_s)
