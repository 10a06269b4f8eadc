"""The gateway's aiohttp application: the chat page, its assets and the JSON API in front of Rasa."""

from __future__ import annotations

import asyncio
import html
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web

from assistant.gateway.config import GatewayConfig
from assistant.gateway.errors import AssistantReplyInvalid, AssistantTimeout, AssistantUnavailable
from assistant.gateway.messages import ChatItem, normalise
from assistant.gateway.notices import RestockNotices
from assistant.gateway.rasa_client import RasaClient
from assistant.gateway.upload import OfferedPayloads, read_upload_form, share_photo_message
from assistant.gateway.validation import SENDER_ID_PATTERN, ApiError, parse_chat_request
from retrieval.vision.errors import ImageTooLarge, InvalidImage
from retrieval.vision.uploads import UploadStore, sanitise_image

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
RETRY_AFTER_S = 5
LOG_PREVIEW_CHARS = 100

CONFIG_KEY = web.AppKey("config", GatewayConfig)
CLIENT_KEY = web.AppKey("rasa_client", RasaClient)
INDEX_KEY = web.AppKey("index_html", bytes)
OFFERED_KEY = web.AppKey("offered_payloads", OfferedPayloads)
DECODES_KEY = web.AppKey("decodes", asyncio.Semaphore)
NOTICES_KEY = web.AppKey("notices", RestockNotices)

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
    config: GatewayConfig, client: RasaClient | None = None, notices: RestockNotices | None = None
) -> web.Application:
    """Build the gateway. The app opens `client`'s shared HTTP session on start-up and closes it on clean-up.
    `notices`: back-in-stock messages handed to a shopper before the next answer and on `GET /api/notices`."""
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[_errors_as_json])
    app[CONFIG_KEY] = config
    app[CLIENT_KEY] = client if client is not None else RasaClient(config)
    app[OFFERED_KEY] = OfferedPayloads()
    app[DECODES_KEY] = asyncio.Semaphore(config.max_concurrent_decodes)
    if notices is not None:
        app[NOTICES_KEY] = notices
    app.cleanup_ctx.append(_client_session)
    app.on_response_prepare.append(_add_security_headers)

    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/api/status", _status)
    app.router.add_post("/api/chat", _chat)
    app.router.add_post("/api/upload", _upload)
    app.router.add_get("/api/notices", _notices)
    app.router.add_get("/static/index.html", _to_index)  # the template itself is not a page
    static = app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    assert isinstance(static, web.StaticResource)
    app[INDEX_KEY] = _render_index(static, config)
    return app


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    client = app[CLIENT_KEY]
    await client.start()
    yield
    await client.close()


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
    text = request.app[OFFERED_KEY].guard(message.sender_id, message.text)
    return await _forward(request, message.sender_id, text)


async def _upload(request: web.Request) -> web.Response:
    """A photo: streamed within limits, cleaned and stored off the event loop, then announced to Rasa."""
    config = request.app[CONFIG_KEY]
    if config.uploads_dir is None:
        raise _unavailable("uploads_disabled", "Photo uploads are switched off in this shop.")
    form = await read_upload_form(request, config)
    try:
        async with request.app[DECODES_KEY]:
            image = await asyncio.to_thread(sanitise_image, form.photo, config.max_upload_pixels)
    except ImageTooLarge as exc:
        raise ApiError(413, "image_too_large", str(exc)) from exc
    except InvalidImage as exc:
        raise ApiError(415 if form.photo else 400, "invalid_image", str(exc)) from exc
    stored = await asyncio.to_thread(UploadStore(config.uploads_dir).save, image, form.sender_id)
    logger.info("photo %s from sender=%s (%dx%d)", stored.image_id, form.sender_id, stored.width, stored.height)
    return await _forward(request, form.sender_id, share_photo_message(stored.image_id), {"image_id": stored.image_id})


async def _forward(
    request: web.Request, sender_id: str, text: str, extra: dict[str, Any] | None = None
) -> web.Response:
    """Send one message to Rasa and answer with its messages as chat items (errors as JSON `ApiError`s)."""
    client = request.app[CLIENT_KEY]
    sender, preview = sender_id, _preview(text)
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
    items = await _due_notices(request, sender_id) + normalise(replies)
    request.app[OFFERED_KEY].remember(sender_id, items)
    return _json({"messages": items, **(extra or {})})


async def _due_notices(request: web.Request, sender_id: str) -> list[ChatItem]:
    notices = request.app.get(NOTICES_KEY)
    return await asyncio.to_thread(notices.take, sender_id) if notices is not None else []


async def _notices(request: web.Request) -> web.Response:
    """`GET /api/notices?sender_id=...`: the shopper's due back-in-stock messages (the page asks every 30 s)."""
    sender_id = request.query.get("sender_id", "")
    if not SENDER_ID_PATTERN.fullmatch(sender_id):
        raise ApiError(400, "bad_sender_id", "sender_id must be 1-64 letters, digits, '-' or '_'.")
    return _json({"messages": await _due_notices(request, sender_id)})


# --- errors and headers -----------------------------------------------------------------------------------------


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON `{"error": {"code", "message"}}`, including aiohttp's own 404, 405 and 413."""
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
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def _up(healthy: bool) -> str:
    return "up" if healthy else "down"


def _preview(text: str) -> str:
    """The start of a shopper's message for a log line: at most LOG_PREVIEW_CHARS characters, one line."""
    clipped = text[:LOG_PREVIEW_CHARS]
    return repr(clipped) + (f" (+{len(text) - LOG_PREVIEW_CHARS} chars)" if len(text) > LOG_PREVIEW_CHARS else "")
