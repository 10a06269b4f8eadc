"""The gateway's aiohttp application: the chat page, its assets, the shopper's JSON API in front of Rasa, the live
stream to the page (server-sent events), and the mount point of the staff console (`/staff/`).

Every shopper API takes the shopper's id from the signed cookie (`identity.py`), never from the request body.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from assistant.gateway.config import GatewayConfig
from assistant.gateway.errors import AssistantReplyInvalid, AssistantTimeout, AssistantUnavailable
from assistant.gateway.history import history
from assistant.gateway.identity import COOKIE_NAME, ShopperCookies, log_id, new_sender_id
from assistant.gateway.internal import add_internal_routes
from assistant.gateway.live import InProcessHub, LiveHub, LiveUnavailable, RedisHub, shopper_topic, staff_topic
from assistant.gateway.messages import ChatItem, normalise
from assistant.gateway.notices import RestockNotices
from assistant.gateway.rasa_client import RasaClient
from assistant.gateway.upload import OfferedPayloads, read_upload_form, share_photo_message, store_photo
from assistant.gateway.validation import SENDER_ID_PATTERN, ApiError, parse_chat_request
from retrieval.vision.errors import UploadNotFound
from retrieval.vision.uploads import UploadStore

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
RETRY_AFTER_S = 5
STAFF_FORM_MAX_BYTES = 64 * 1024

CONFIG_KEY = web.AppKey("config", GatewayConfig)
CLIENT_KEY = web.AppKey("rasa_client", RasaClient)
INDEX_KEY = web.AppKey("index_html", bytes)
OFFERED_KEY = web.AppKey("offered_payloads", OfferedPayloads)
DECODES_KEY = web.AppKey("decodes", asyncio.Semaphore)
NOTICES_KEY = web.AppKey("notices", RestockNotices)
HUB_KEY = web.AppKey("live_hub", LiveHub)
COOKIES_KEY = web.AppKey("shopper_cookies", ShopperCookies)
STREAMS_KEY = web.AppKey("open_streams", dict[str, int])
STOPPING_KEY = web.AppKey("stopping", asyncio.Event)
SENDER = web.RequestKey("shopper_sender_id", str)
NEW_SENDER = web.RequestKey("shopper_new_sender", bool)
STAFF_PREFIX = "/staff/"
SSE_RETRY_MS = 3000

# Every response: the page loads only its own assets, cannot be framed and leaks no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    config: GatewayConfig,
    client: RasaClient | None = None,
    notices: RestockNotices | None = None,
    hub: LiveHub | None = None,
    console: web.Application | None = None,
) -> web.Application:
    """Build the gateway. The app opens `client`'s shared HTTP session on start-up and closes it on clean-up.
    `notices`: back-in-stock messages handed to a shopper before the next answer, on `GET /api/notices` and on the
    live stream. `hub`: live events (default: in-process). `console`: the staff console, mounted at `/staff/`."""
    # aiohttp applies the top-level application's body limit to mounted ones too: the staff console's forms (a 4,000-
    # character note in a non-Latin script is ~36 KB url-encoded) need more than a chat message; /api/chat keeps its
    # own, smaller limit (`_chat` checks `max_body_bytes`).
    app = web.Application(
        client_max_size=max(config.max_body_bytes, STAFF_FORM_MAX_BYTES), middlewares=[_errors_as_json]
    )
    app[CONFIG_KEY] = config
    app[CLIENT_KEY] = client if client is not None else RasaClient(config)
    app[OFFERED_KEY] = OfferedPayloads()
    app[DECODES_KEY] = asyncio.Semaphore(config.max_concurrent_decodes)
    app[HUB_KEY] = hub if hub is not None else InProcessHub()
    app[COOKIES_KEY] = ShopperCookies(config.key("shopper-cookie"), secure=config.cookie_secure)
    app[STREAMS_KEY] = {}
    app[STOPPING_KEY] = asyncio.Event()
    if notices is not None:
        app[NOTICES_KEY] = notices
    app.cleanup_ctx.append(_client_session)
    app.on_shutdown.append(_end_streams)
    app.on_response_prepare.append(_add_security_headers)
    app.on_response_prepare.append(_issue_cookie)

    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/api/status", _status)
    app.router.add_post("/api/chat", _chat)
    app.router.add_post("/api/upload", _upload)
    app.router.add_get("/api/notices", _notices)
    app.router.add_get("/api/history", _history)
    app.router.add_get("/api/events", _events)
    app.router.add_get("/api/uploads/{image_id}", _own_upload)
    add_internal_routes(app, config, config.key("internal-upload"))
    app.router.add_get("/static/index.html", _to_index)  # the template itself is not a page
    static = app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    assert isinstance(static, web.StaticResource)
    app[INDEX_KEY] = _render_index(static, config)
    if console is not None:
        app.add_subapp(STAFF_PREFIX, console)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    client = app[CLIENT_KEY]
    await client.start()
    yield
    await client.close()
    hub = app[HUB_KEY]
    if isinstance(hub, InProcessHub | RedisHub):
        await hub.aclose()


async def _end_streams(app: web.Application) -> None:
    """On shutdown, live streams end at once instead of holding the graceful shutdown for its full timeout."""
    app[STOPPING_KEY].set()


# --- shopper identity -------------------------------------------------------------------------------------------


def _shopper(request: web.Request, claimed: str | None = None) -> str:
    """The shopper's sender id from their cookie; a new one (cookie set on the response) if there is none or it is
    not ours. A `claimed` id (from a body or query) that differs is refused with 403."""
    sender_id = request.get(SENDER)
    if sender_id is None:
        sender_id = request.app[COOKIES_KEY].sender_id(request.cookies.get(COOKIE_NAME))
        if sender_id is None:
            sender_id = new_sender_id()
            request[NEW_SENDER] = True
        request[SENDER] = sender_id
    if claimed is not None and claimed != sender_id:
        raise ApiError(
            403,
            "sender_mismatch",
            "This conversation belongs to another browser. Leave out 'sender_id': the gateway knows who you are "
            "from your cookie.",
        )
    assert isinstance(sender_id, str)
    return sender_id


async def _issue_cookie(request: web.Request, response: web.StreamResponse) -> None:
    if request.get(NEW_SENDER) and SENDER in request:
        request.app[COOKIES_KEY].set(response, request[SENDER])


def _tag(request: web.Request, sender_id: str) -> str:
    """What a log line says about a shopper: a keyed hash, never the sender id itself."""
    return log_id(request.app[CONFIG_KEY].key("log"), sender_id)


async def _publish(request: web.Request, topic: str, event: dict[str, Any]) -> None:
    try:
        await request.app[HUB_KEY].publish(topic, event)
    except (LiveUnavailable, OSError) as exc:  # the conversation goes on; pages catch up from their history
        logger.warning("live event not published: %s", exc)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _render_index(static: web.StaticResource, config: GatewayConfig) -> bytes:
    def asset(name: str) -> str:
        return html.escape(str(static.url_for(filename=name, append_version=True)))

    # The page gives up a little after the gateway would have answered with its own timeout error.
    request_timeout_ms = math.ceil((config.rasa_timeout_s + config.health_timeout_s + 5) * 1000)
    template = Template((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    page = template.substitute(
        {
            "css_url": asset("chat.css"),
            "js_url": asset("chat.js"),
            "icon_url": asset("favicon.svg"),
            "max_message_chars": str(config.max_message_chars),
            "max_upload_bytes": str(config.max_upload_bytes),
            "request_timeout_ms": str(request_timeout_ms),
        }
    )
    return page.encode("utf-8")


# --- handlers ---------------------------------------------------------------------------------------------------


async def _index(request: web.Request) -> web.Response:
    _shopper(request)  # the first visit gets its identity here, before the page opens its live stream
    return web.Response(
        body=request.app[INDEX_KEY],
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def _to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/")


async def _healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def _status(request: web.Request) -> web.Response:
    client = request.app[CLIENT_KEY]
    rasa, actions = await asyncio.gather(client.rasa_healthy(), client.actions_healthy())
    return _json({"gateway": "ok", "rasa": _up(rasa), "actions": _up(actions)})


async def _chat(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    if request.content_length is not None and request.content_length > config.max_body_bytes:
        raise web.HTTPRequestEntityTooLarge(config.max_body_bytes, request.content_length)
    message = parse_chat_request(request.content_type, await request.read(), config.max_message_chars)
    sender_id = _shopper(request, message.sender_id)
    text = request.app[OFFERED_KEY].guard(sender_id, message.text)
    return await _forward(request, sender_id, text, shown=message.text)


async def _upload(request: web.Request) -> web.Response:
    """A photo: streamed within limits, cleaned and stored off the event loop, then announced to Rasa."""
    config = request.app[CONFIG_KEY]
    if config.uploads_dir is None:
        raise _unavailable("uploads_disabled", "Photo uploads are switched off in this shop.")
    form = await read_upload_form(request, config)
    sender_id = _shopper(request, form.sender_id)
    stored = await store_photo(
        form.photo, sender_id, config.uploads_dir, config.max_upload_pixels, request.app[DECODES_KEY]
    )
    logger.info("photo from shopper %s (%dx%d)", _tag(request, sender_id), stored.width, stored.height)
    return await _forward(
        request,
        sender_id,
        share_photo_message(stored.image_id),
        extra={"image_id": stored.image_id},
        image_id=stored.image_id,
    )


async def _forward(
    request: web.Request,
    sender_id: str,
    text: str,
    shown: str | None = None,
    extra: dict[str, Any] | None = None,
    image_id: str | None = None,
) -> web.Response:
    """Send one message to Rasa and answer with its messages as chat items (errors as JSON `ApiError`s). The
    console's open transcript gets the shopper's message (`shown`, as typed) and then the bot's answer live."""
    client = request.app[CLIENT_KEY]
    sender, preview = _tag(request, sender_id), f"({len(text)} chars)"
    said: dict[str, Any] = {"type": "shopper_message", "text": shown if shown is not None else text, "at": _now()}
    if image_id is not None:
        said.update(text="(photo)", image_id=image_id)
    await _publish(request, staff_topic(sender_id), said)
    try:
        replies = await client.send(sender_id, text)
    except AssistantTimeout as exc:
        logger.warning("Rasa timed out: sender=%s text=%s: %s", sender, preview, exc.detail)
        raise _unavailable(
            "assistant_unavailable",
            "The assistant did not answer in time; it may be busy or still starting. Please try again in a moment.",
        ) from exc
    except AssistantUnavailable as exc:
        logger.warning("Rasa unavailable: sender=%s text=%s: %s", sender, preview, exc.detail)
        raise _unavailable(
            "assistant_unavailable",
            "The assistant is starting up or temporarily down. Please try again in a moment.",
        ) from exc
    except AssistantReplyInvalid as exc:
        logger.error("Rasa answered unexpectedly: sender=%s text=%s: %s", sender, preview, exc)
        raise ApiError(
            502,
            "assistant_bad_reply",
            "The assistant answered in an unexpected way. Please try again later; if it persists, contact the shop.",
        ) from exc
    # Rasa 3.6 answers 200 with no messages when the action server is down: tell that apart from a silent turn.
    if not replies and not await client.actions_healthy():
        logger.warning("empty answer and the action server is down: sender=%s text=%s", sender, preview)
        raise _unavailable(
            "actions_unavailable",
            "The assistant's shop services are starting up or temporarily down, so it could not answer. "
            "Please try again in a moment.",
        )
    answer = normalise(replies)
    if answer:
        await _publish(request, staff_topic(sender_id), {"type": "bot_messages", "items": answer, "at": _now()})
    items = await _due_notices(request, sender_id) + answer
    request.app[OFFERED_KEY].remember(sender_id, items)
    return _json({"messages": items, **(extra or {})})


async def _due_notices(request: web.Request, sender_id: str) -> list[ChatItem]:
    notices = request.app.get(NOTICES_KEY)
    return await asyncio.to_thread(notices.take, sender_id) if notices is not None else []


async def _notices(request: web.Request) -> web.Response:
    """`GET /api/notices`: the shopper's due back-in-stock messages (the page asks when its live stream is down)."""
    claimed = request.query.get("sender_id")
    if claimed is not None and not SENDER_ID_PATTERN.fullmatch(claimed):
        raise ApiError(400, "bad_sender_id", "sender_id must be 1-64 letters, digits, '-' or '_'; or leave it out.")
    sender_id = _shopper(request, claimed)
    return _json({"messages": await _due_notices(request, sender_id)})


async def _history(request: web.Request) -> web.Response:
    """`GET /api/history`: this shopper's conversation so far, from Rasa's tracker store, as chat items."""
    sender_id = _shopper(request)
    if request.get(NEW_SENDER):
        return _json({"messages": [], "handoff": "bot"})
    try:
        tracker = await request.app[CLIENT_KEY].tracker(sender_id)
    except AssistantUnavailable as exc:
        logger.warning("history unavailable for shopper %s: %s", _tag(request, sender_id), exc.detail)
        raise _unavailable(
            "assistant_unavailable", "Your earlier messages cannot be loaded just now; they are still there."
        ) from exc
    except AssistantReplyInvalid as exc:
        logger.error("history of shopper %s: %s", _tag(request, sender_id), exc)
        raise ApiError(502, "assistant_bad_reply", "Your earlier messages cannot be loaded just now.") from exc
    past = history(tracker)
    request.app[OFFERED_KEY].remember(sender_id, [item for item in past.items if item.get("from") == "bot"])  # type: ignore[misc]
    return _json({"messages": past.items, "handoff": past.handoff})


async def _own_upload(request: web.Request) -> web.StreamResponse:
    """`GET /api/uploads/{image_id}`: one of this shopper's own photos (anyone else's, or none: 404)."""
    config = request.app[CONFIG_KEY]
    sender_id = _shopper(request)
    if config.uploads_dir is None:
        raise ApiError(404, "not_found", "There is no such photo.")
    try:
        stored = await asyncio.to_thread(
            UploadStore(config.uploads_dir).find, request.match_info["image_id"], sender_id
        )
    except UploadNotFound as exc:
        raise ApiError(404, "not_found", "There is no such photo among yours.") from exc
    return web.FileResponse(
        stored.path,
        headers={
            "Content-Type": "image/jpeg",
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _events(request: web.Request) -> web.StreamResponse:
    """`GET /api/events`: server-sent events for this shopper's page: staff replies and handoff status (the
    shopper topic) and due back-in-stock notices. A comment line every `heartbeat_s` keeps idle streams open; at
    most `max_streams_per_sender` per shopper; the stream ends when the gateway shuts down."""
    config = request.app[CONFIG_KEY]
    sender_id = _shopper(request)
    streams = request.app[STREAMS_KEY]
    if streams.get(sender_id, 0) >= config.max_streams_per_sender:
        raise ApiError(
            429,
            "too_many_streams",
            f"This browser already has {config.max_streams_per_sender} live chat pages open; close one and reload.",
            headers={"Retry-After": "30"},
        )
    streams[sender_id] = streams.get(sender_id, 0) + 1
    try:
        async with request.app[HUB_KEY].subscribe(shopper_topic(sender_id)) as events:
            response = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
            )
            await response.prepare(request)
            await response.write(f"retry: {SSE_RETRY_MS}\n: connected\n\n".encode())
            with contextlib.suppress(ConnectionResetError):  # the page went away
                await _stream(request, response, events, sender_id)
            return response
    except LiveUnavailable as exc:
        logger.warning("live stream unavailable: %s", exc)
        raise _unavailable("live_unavailable", "Live updates are unavailable just now; the chat still works.") from exc
    finally:
        streams[sender_id] -= 1
        if not streams[sender_id]:
            del streams[sender_id]


async def _stream(
    request: web.Request, response: web.StreamResponse, events: AsyncIterator[dict[str, Any]], sender_id: str
) -> None:
    config = request.app[CONFIG_KEY]
    stopping = request.app[STOPPING_KEY]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(64)

    async def pump() -> None:
        async for event in events:
            if queue.full():
                queue.get_nowait()  # a page this far behind loses the oldest; its history has everything
            queue.put_nowait(event)

    pumping = asyncio.create_task(pump())
    stop = asyncio.create_task(stopping.wait())
    loop = asyncio.get_running_loop()
    has_notices = NOTICES_KEY in request.app
    next_notice = loop.time()
    try:
        while not stopping.is_set() and not pumping.done():
            wait_s = config.heartbeat_s
            if has_notices:
                if loop.time() >= next_notice:
                    next_notice = loop.time() + config.notice_poll_s
                    if notices := await _due_notices(request, sender_id):
                        await _send(response, {"type": "messages", "items": notices})
                wait_s = min(wait_s, max(0.01, next_notice - loop.time()))
            getting = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getting, stop, pumping}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
            if getting not in done:
                getting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getting  # it may have got an event in the meantime: never lose it
            if getting.done() and not getting.cancelled():
                await _send(response, getting.result())
            elif not done:
                await response.write(b": keep-alive\n\n")
        if pumping.done() and not pumping.cancelled() and (error := pumping.exception()) is not None:
            logger.warning("live stream of shopper %s ended: %s", _tag(request, sender_id), error)
    finally:
        for task in (pumping, stop):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pumping


async def _send(response: web.StreamResponse, event: dict[str, Any]) -> None:
    await response.write(f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode())


# --- errors and headers -----------------------------------------------------------------------------------------


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON `{"error": {"code", "message"}}`, including aiohttp's own 404, 405 and 413.
    The staff console under `/staff/` renders its own (HTML) errors and is left alone."""
    if request.path.startswith(STAFF_PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_error(request, exc)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _error(500, "internal_error", "Something went wrong in the shop's gateway. Please try again later.")


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    config = request.app[CONFIG_KEY]
    headers = {key: value for key, value in exc.headers.items() if key in ("Allow",)}
    if isinstance(exc, web.HTTPNotFound):
        return _error(404, "not_found", f"There is nothing at {request.path}. The chat API is POST /api/chat.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return _error(
            405, "method_not_allowed", f"{request.path} does not accept {request.method}; use {allowed}.", headers
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return _error(
            413,
            "body_too_large",
            f"The request body is larger than {config.max_body_bytes} bytes; "
            f"send one message of at most {config.max_message_chars} characters.",
        )
    code = exc.reason.lower().replace(" ", "_") or f"http_{exc.status}"
    return _error(exc.status, code, exc.reason, headers)


def _unavailable(code: str, message: str) -> ApiError:
    return ApiError(503, code, message, headers={"Retry-After": str(RETRY_AFTER_S)})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers={"Cache-Control": "no-store", **(headers or {})})


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(STAFF_PREFIX):
        return  # the console sets its own (this hook runs before the console's, so setdefault here would win)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _up(healthy: bool) -> str:
    return "up" if healthy else "down"
