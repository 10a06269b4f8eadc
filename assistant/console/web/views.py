"""The console's pages and form handlers: thin, each reads its input, calls one service (in a thread when it
blocks), audits staff access, and renders a template or redirects back (POST → 303 → GET)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup
from multidict import MultiDictProxy
from sqlalchemy import Boolean, DateTime, Engine, Integer, String, column, select, table

from assistant.console import charts
from assistant.console.accounts import Role
from assistant.console.annotations import AnnotationError
from assistant.console.insight import AtRisk, Insight
from assistant.console.queries import ConversationQuery, search_conversations
from assistant.console.transcripts import TrackerUnavailable, TranscriptItem
from assistant.console.web import auth
from assistant.console.web.context import console, staff
from assistant.console.web.handoff import HandoffError
from assistant.console.web.pages import render
from assistant.gateway.live import STAFF_QUEUE_TOPIC, staff_topic
from assistant.gateway.rasa_client import AGENT_POLICY_PREFIX
from retrieval.vision.errors import UploadNotFound

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PER_PAGE = 25
MAX_PAGE = 100_000
MAX_QUERY_CHARS = 200
MAX_NOTE_CHARS = 4000
MAX_TAG_CHARS = 40
SSE_HEARTBEAT_S = 15.0
SSE_QUEUE = 100
INSIGHT_DAYS = 30
CHANNELS = ("rest", "telegram", "slack", "facebook")


_conversations = table(
    "conversations",
    column("sender_id", String),
    column("channel", String),
    column("customer_id", String),
    column("started_at", DateTime),
    column("last_at", DateTime),
    column("user_turns", Integer),
    column("fallbacks", Integer),
    column("handoff", Boolean),
)
SENDER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.\-]{1,20}")


# --- rendering ----------------------------------------------------------------------------------------------------


def _redirect(request: web.Request, name: str, done: str | None = None, **parts: str) -> web.HTTPSeeOther:
    url = request.app.router[name].url_for(**parts)
    if done:
        url = url.with_query(done=done)
    return web.HTTPSeeOther(str(url))


async def _form(request: web.Request) -> MultiDictProxy[Any]:
    return await request.post()  # cached: the auth middleware already read it for the CSRF check


def _text_field(form: Mapping[str, Any], name: str, max_chars: int, label: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        raise web.HTTPBadRequest(text=f"The form has no {label}; fill it in and send it again.")
    value = value.strip()
    if not value:
        raise web.HTTPBadRequest(text=f"The {label} is empty; fill it in and send it again.")
    if len(value) > max_chars:
        raise web.HTTPRequestEntityTooLarge(
            max_size=max_chars, actual_size=len(value), text=f"The {label} is too long: at most {max_chars} characters."
        )
    return value


def _sender_id(request: web.Request) -> str:
    sender_id = request.match_info["sender_id"]
    if not SENDER_ID.fullmatch(sender_id):
        raise web.HTTPBadRequest(text="That is not a conversation id.")
    return sender_id


async def _call(func: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(func, *args)


async def _audit(request: web.Request, action: str, target: str | None, details: dict[str, Any] | None = None) -> None:
    await _call(console(request).audit.record, staff(request).account.username, action, target, details)


# --- conversations ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The conversation list's filter form, as typed values; `query()` for the data layer, `params()` for links."""

    text: str = ""
    date_from: date | None = None
    date_to: date | None = None
    channel: str = ""
    sentiment: str = ""
    handoff: str = ""
    fallback: str = ""
    customer: str = ""
    page: int = 1

    def query(self) -> ConversationQuery:
        return ConversationQuery(
            text=self.text,
            date_from=self.date_from,
            date_to=self.date_to,
            channel=self.channel or None,
            sentiment=cast(Literal["negative", "neutral", "positive"], self.sentiment) if self.sentiment else None,
            handoff={"yes": True, "no": False}.get(self.handoff),
            fallback={"yes": True, "no": False}.get(self.fallback),
            customer_id=self.customer or None,
            page=self.page,
            per_page=PER_PAGE,
        )

    def params(self, page: int | None = None) -> dict[str, str]:
        raw = {
            "q": self.text,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "channel": self.channel,
            "sentiment": self.sentiment,
            "handoff": self.handoff,
            "fallback": self.fallback,
            "customer": self.customer,
            "page": str(page) if page and page > 1 else "",
        }
        return {key: value for key, value in raw.items() if value}


def parse_filters(query: Mapping[str, str]) -> Filters:
    """The filter form's values; `HTTPBadRequest` naming the field and the expected form for anything malformed."""

    def day(name: str, label: str) -> date | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise web.HTTPBadRequest(text=f"{label} has value {raw[:40]!r}; expected a date like 2024-05-31.") from None

    def choice(name: str, allowed: tuple[str, ...], label: str) -> str:
        raw = query.get(name, "").strip()
        if raw and raw not in allowed:
            raise web.HTTPBadRequest(text=f"{label} has value {raw[:40]!r}; expected one of {', '.join(allowed)}.")
        return raw

    text = query.get("q", "").strip()
    if len(text) > MAX_QUERY_CHARS:
        raise web.HTTPBadRequest(text=f"The search text is too long: at most {MAX_QUERY_CHARS} characters.")
    channel = query.get("channel", "").strip()
    if channel and not re.fullmatch(r"[a-z0-9_\-]{1,50}", channel):
        raise web.HTTPBadRequest(text="Channel should be a channel name such as rest or telegram.")
    customer = query.get("customer", "").strip()
    if customer and not CUSTOMER_ID.fullmatch(customer):
        raise web.HTTPBadRequest(text="Customer should be a customer number (letters, digits, at most 20).")
    raw_page = query.get("page", "1").strip() or "1"
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise web.HTTPBadRequest(text=f"page has value {raw_page[:20]!r}; expected a whole number from 1.")
    filters = Filters(
        text=text,
        date_from=day("from", "From"),
        date_to=day("to", "To"),
        channel=channel,
        sentiment=choice("sentiment", ("negative", "neutral", "positive"), "Sentiment"),
        handoff=choice("handoff", ("yes", "no"), "Handoff"),
        fallback=choice("fallback", ("yes", "no"), "Fallback"),
        customer=customer,
        page=int(raw_page),
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise web.HTTPBadRequest(text="From is after To; swap the dates.")
    return filters


async def conversations(request: web.Request) -> web.Response:
    filters = parse_filters(request.query)
    app = console(request)
    result = await _call(search_conversations, app.engine, filters.query())
    pages = max(1, math.ceil(result.total / PER_PAGE))

    def link(page: int) -> str:
        params = filters.params(page)
        return str(request.app.router["conversations"].url_for()) + (f"?{urlencode(params)}" if params else "")

    return render(
        request,
        "conversations.html",
        {
            "nav": "conversations",
            "filters": filters,
            "result": result,
            "pages": pages,
            "prev_url": link(filters.page - 1) if filters.page > 1 else None,
            "next_url": link(filters.page + 1) if filters.page < pages else None,
            "channels": CHANNELS,
        },
    )


# --- transcript ---------------------------------------------------------------------------------------------------


def _conversation_row(engine: Engine, sender_id: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(select(_conversations).where(_conversations.c.sender_id == sender_id)).first()
    return dict(row._mapping) if row is not None else None


async def transcript(request: web.Request) -> web.Response:
    sender_id = _sender_id(request)
    app, me = console(request), staff(request)
    try:
        items: list[TranscriptItem] = await _call(app.reader.transcript, sender_id)
    except TrackerUnavailable as exc:
        logger.warning("reading the tracker store failed: %s", exc)
        raise web.HTTPServiceUnavailable(
            text="Rasa's tracker store could not be read, so the transcript cannot be shown. "
            "Check that the assistant is running (make run) and try again."
        ) from exc
    summary = await _call(_conversation_row, app.engine, sender_id)
    if not items and summary is None:
        raise web.HTTPNotFound(text="There is no conversation with that id (it may have been erased).")
    await _audit(request, "view_transcript", sender_id)
    handoff, tags, notes, corrections = await asyncio.gather(
        _call(app.queue.current, sender_id),
        _call(app.annotations.tags, sender_id),
        _call(app.annotations.notes, sender_id),
        _call(app.annotations.corrections, sender_id),
    )
    channel = next((item.channel for item in reversed(items) if item.kind == "user" and item.channel), None)
    held = handoff is not None and handoff.status == "taken"
    return render(
        request,
        "transcript.html",
        {
            "nav": "conversations",
            "sender_id": sender_id,
            "items": items,
            "summary": summary or dict.fromkeys(_conversations.c.keys()),
            "channel": channel or (summary or {}).get("channel") or "rest",
            "handoff": handoff,
            "held_by_me": held and handoff is not None and handoff.taken_by == me.account.username,
            "held_by_other": held and handoff is not None and handoff.taken_by != me.account.username,
            "agents": agent_names(items),
            "tags": tags,
            "notes": notes,
            "corrected": {c.event_id: c.correct_intent for c in corrections},
            "intents": sorted(app.intents),
            "max_reply_chars": 2000,
        },
    )


def agent_names(items: list[TranscriptItem]) -> dict[int, str]:
    """Who wrote each staff message: the `staff:<name>` policy `RasaClient.say_as_agent` puts on its action."""
    names: dict[int, str] = {}
    current: str | None = None
    for item in items:
        if item.kind == "action":
            policy = item.detail or ""
            current = policy.removeprefix(AGENT_POLICY_PREFIX) if policy.startswith(AGENT_POLICY_PREFIX) else None
        elif item.kind == "agent" and current:
            names[item.event_id] = current
    return names


async def photo(request: web.Request) -> web.StreamResponse:
    """One photo a shopper uploaded, for staff only: served from `UploadStore` (never as a static file), audited."""
    sender_id, image_id = _sender_id(request), request.match_info["image_id"]
    app = console(request)
    try:
        stored = await _call(app.uploads.find, image_id, sender_id)
    except UploadNotFound:
        raise web.HTTPNotFound(text="No such photo in this conversation.") from None
    await _audit(request, "view_photo", sender_id, {"image_id": image_id})
    return web.FileResponse(
        stored.path,
        headers={
            "Content-Type": "image/jpeg",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Disposition": "inline",
        },
    )


async def live(request: web.Request) -> web.StreamResponse:
    """Server-sent events for the open transcript: the shopper's messages and the bot's and agents' replies."""
    return await _stream(request, staff_topic(_sender_id(request)))


async def queue_live(request: web.Request) -> web.StreamResponse:
    return await _stream(request, STAFF_QUEUE_TOPIC)


async def _stream(request: web.Request, topic: str) -> web.StreamResponse:
    """Relay one hub topic as SSE with heartbeats; ends on client disconnect, slow client, or app shutdown."""
    app, token_hash = console(request), staff(request).session.token_hash
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    stop = asyncio.Event()
    app.streams.add(stop)
    # Events wait here; `None` ends the stream (the hub's side ended, the client fell behind, or shutdown).
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(SSE_QUEUE + 2)

    async def pump(events: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for event in events:
                if queue.qsize() >= SSE_QUEUE:
                    break  # this client is too far behind: it reconnects and reloads
                queue.put_nowait(event)
        finally:
            queue.put_nowait(None)

    async def watch() -> None:
        await stop.wait()
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    try:
        async with app.hub.subscribe(topic) as events:
            await response.prepare(request)
            await response.write(b"retry: 3000\n\n")
            helpers = [asyncio.create_task(pump(events)), asyncio.create_task(watch())]
            try:
                while not stop.is_set():
                    try:
                        event = await asyncio.wait_for(queue.get(), SSE_HEARTBEAT_S)
                    except TimeoutError:
                        if not await _call(app.sessions.is_live, token_hash):
                            break  # logged out or idle too long: the page's next reconnect gets a 401
                        await response.write(b": keep-alive\n\n")
                        continue
                    if event is None:
                        break
                    await response.write(f"data: {json.dumps(event, ensure_ascii=False)}\n\n".encode())
            finally:
                for helper in helpers:
                    helper.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)
    except ConnectionResetError:
        pass  # the page went away
    finally:
        app.streams.discard(stop)
    return response


# --- handoff ------------------------------------------------------------------------------------------------------


def _handoff_error(exc: HandoffError) -> web.HTTPException:
    if exc.status == 413:
        return web.HTTPRequestEntityTooLarge(max_size=0, actual_size=0, text=str(exc))
    statuses: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest,
        403: web.HTTPForbidden,
        503: web.HTTPServiceUnavailable,
    }
    return statuses.get(exc.status, web.HTTPConflict)(text=str(exc))


async def takeover(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    app, me = console(request), staff(request)
    summary = await _call(_conversation_row, app.engine, sender_id)
    channel = (summary or {}).get("channel") or "rest"
    try:
        result = await app.handoff.take_over(sender_id, me.account, channel)
    except HandoffError as exc:
        raise _handoff_error(exc) from exc
    raise _redirect(request, "transcript", "greeting_failed" if result.warning else "taken", sender_id=sender_id)


async def reply(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    form = await _form(request)
    text = form.get("text")
    if not isinstance(text, str):
        raise web.HTTPBadRequest(text="The form has no reply text; type a message and send it again.")
    try:
        await console(request).handoff.reply(sender_id, staff(request).account, text)
    except HandoffError as exc:
        raise _handoff_error(exc) from exc
    raise _redirect(request, "transcript", "replied", sender_id=sender_id)


async def handback(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    force = (await _form(request)).get("force") == "yes"
    try:
        result = await console(request).handoff.hand_back(sender_id, staff(request).account, force)
    except HandoffError as exc:
        raise _handoff_error(exc) from exc
    raise _redirect(request, "transcript", "goodbye_failed" if result.warning else "handed_back", sender_id=sender_id)


async def handoffs(request: web.Request) -> web.Response:
    rows = await _call(console(request).queue.open)
    return render(request, "handoffs.html", {"nav": "handoffs", "rows": rows})


# --- annotations --------------------------------------------------------------------------------------------------


async def tags(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    form = await _form(request)
    tag = _text_field(form, "tag", MAX_TAG_CHARS, "tag")
    app, me = console(request), staff(request)
    remove = form.get("op") == "remove"
    try:
        if remove:
            await _call(app.annotations.remove_tag, sender_id, tag)
        else:
            await _call(app.annotations.add_tag, sender_id, tag, me.account.id)
    except AnnotationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    await _audit(request, "remove_tag" if remove else "add_tag", sender_id, {"tag": tag})
    raise _redirect(request, "transcript", "tag_removed" if remove else "tag_added", sender_id=sender_id)


async def notes(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    body = _text_field(await _form(request), "body", MAX_NOTE_CHARS, "note")
    try:
        note = await _call(console(request).annotations.add_note, sender_id, body, staff(request).account.id)
    except AnnotationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    await _audit(request, "add_note", sender_id, {"note_id": note.id, "chars": len(body)})
    raise _redirect(request, "transcript", "note_added", sender_id=sender_id)


async def corrections(request: web.Request) -> web.StreamResponse:
    """'Wrong intent → correct intent' for one user turn; the text and predicted intent come from the tracker."""
    sender_id = _sender_id(request)
    form = await _form(request)
    raw_event = form.get("event_id")
    if not isinstance(raw_event, str) or not raw_event.isdigit() or len(raw_event) > 18:
        raise web.HTTPBadRequest(text="The correction form has no valid turn (event_id); reload the transcript.")
    correct = _text_field(form, "intent", 100, "correct intent")
    app = console(request)
    items: list[TranscriptItem] = await _call(app.reader.transcript, sender_id)
    turn = next((i for i in items if i.event_id == int(raw_event) and i.kind == "user"), None)
    if turn is None or not turn.text:
        raise web.HTTPBadRequest(text="That turn is not a shopper message of this conversation; reload the page.")
    try:
        correction = await _call(
            app.annotations.add_correction,
            sender_id,
            turn.event_id,
            turn.text,
            turn.intent,
            correct,
            staff(request).account.id,
        )
    except AnnotationError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    details = {"event_id": turn.event_id, "predicted": turn.intent, "correct": correct, "correction_id": correction.id}
    await _audit(request, "add_correction", sender_id, details)
    raise _redirect(request, "transcript", "corrected", sender_id=sender_id)


async def corrections_export(request: web.Request) -> web.Response:
    yaml_text: str = await _call(console(request).annotations.export_nlu_yaml)
    await _audit(request, "export_corrections", None, {"bytes": len(yaml_text.encode("utf-8"))})
    return web.Response(
        text=yaml_text,
        content_type="application/x-yaml",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="corrections.yml"', "Cache-Control": "no-store"},
    )


# --- insight ------------------------------------------------------------------------------------------------------


def insight_charts(source: Insight) -> tuple[dict[str, Markup], list[AtRisk]]:
    """The insight page's charts (SVG) and at-risk products (blocking). The background task calls it too, so the
    figures are computed ahead of time (Insight caches them) and a person opening the page does not wait."""
    line, bar = charts.line_chart, charts.bar_chart
    svg = {
        # The chart functions escape every label themselves (charts.py), so their SVG is safe to inline.
        "per_day": line(source.conversations_per_day(INSIGHT_DAYS), title="Conversations per day", chart_id="per-day"),
        "intents": bar(source.intent_mix(INSIGHT_DAYS), title="Intent mix", chart_id="intents"),
        "fallback": line(
            source.fallback_rate_per_day(INSIGHT_DAYS),
            title="Fallback rate",
            y_min=0,
            y_max=1,
            fmt=charts.fmt_percent,
            chart_id="fallback",
        ),
        "sentiment": line(
            source.sentiment_per_day(INSIGHT_DAYS),
            title="Mean sentiment (−1 to 1)",
            y_min=-1,
            y_max=1,
            chart_id="sentiment",
        ),
        "zero": bar(source.zero_result_searches(INSIGHT_DAYS), title="Searches with zero results", chart_id="zero"),
    }
    return {name: Markup(chart) for name, chart in svg.items()}, source.products_at_risk()


async def insight(request: web.Request) -> web.Response:
    svg, at_risk = await _call(insight_charts, console(request).insight)
    return render(request, "insight.html", {"nav": "insight", "svg": svg, "at_risk": at_risk, "days": INSIGHT_DAYS})


# --- admin: audit and erasure -------------------------------------------------------------------------------------


@auth.requires(Role.ADMIN)
async def audit_log(request: web.Request) -> web.Response:
    raw_page = request.query.get("page", "1")
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise web.HTTPBadRequest(text="page should be a whole number from 1.")
    page = int(raw_page)
    log = console(request).audit
    entries, total = await _call(log.entries, page, 50)
    pages = log.pages(total, 50)
    base = str(request.app.router["audit"].url_for())
    return render(
        request,
        "audit.html",
        {
            "nav": "audit",
            "entries": entries,
            "total": total,
            "page": page,
            "pages": pages,
            "prev_url": f"{base}?page={page - 1}" if page > 1 else None,
            "next_url": f"{base}?page={page + 1}" if page < pages else None,
        },
    )


@auth.requires(Role.ADMIN)
async def erase_conversation(request: web.Request) -> web.StreamResponse:
    sender_id = _sender_id(request)
    app, me = console(request), staff(request)
    if (await _form(request)).get("confirm") != "yes":
        raise web.HTTPBadRequest(text="Tick the confirmation box to erase this conversation.")
    report = await _call(app.eraser.erase_conversation, sender_id, me.account.username)
    logger.info("conversation erased by %s: erasure %s", me.account.username, report.erasure_id)
    raise _redirect(request, "conversations", "erased")


@auth.requires(Role.ADMIN)
async def erase_customer(request: web.Request) -> web.StreamResponse:
    customer_id = request.match_info["customer_id"]
    if not CUSTOMER_ID.fullmatch(customer_id):
        raise web.HTTPBadRequest(text="That is not a customer number.")
    app, me = console(request), staff(request)
    if (await _form(request)).get("confirm") != "yes":
        raise web.HTTPBadRequest(text="Tick the confirmation box to erase this customer's data.")
    report = await _call(app.eraser.erase_customer, customer_id, me.account.username)
    logger.info("customer erased by %s: erasure %s", me.account.username, report.erasure_id)
    raise _redirect(request, "conversations", "customer_erased")


# --- routes -------------------------------------------------------------------------------------------------------


def add_routes(app: web.Application, static_dir: Path) -> None:
    router = app.router
    router.add_get("/login", auth.login_form, name="login")
    router.add_post("/login", auth.login_submit)
    router.add_post("/logout", auth.logout, name="logout")
    router.add_get("/", conversations, name="conversations")
    router.add_get("/conversations/{sender_id}", transcript, name="transcript")
    router.add_get("/conversations/{sender_id}/live", live, name="live")
    router.add_get("/conversations/{sender_id}/photos/{image_id}", photo, name="photo")
    router.add_post("/conversations/{sender_id}/takeover", takeover, name="takeover")
    router.add_post("/conversations/{sender_id}/reply", reply, name="reply")
    router.add_post("/conversations/{sender_id}/handback", handback, name="handback")
    router.add_post("/conversations/{sender_id}/tags", tags, name="tags")
    router.add_post("/conversations/{sender_id}/notes", notes, name="notes")
    router.add_post("/conversations/{sender_id}/corrections", corrections, name="corrections")
    router.add_post("/conversations/{sender_id}/erase", erase_conversation, name="erase")
    router.add_get("/handoffs", handoffs, name="handoffs")
    router.add_get("/handoffs/live", queue_live, name="queue_live")
    router.add_get("/insight", insight, name="insight")
    router.add_get("/corrections.yml", corrections_export, name="corrections_export")
    router.add_get("/audit", audit_log, name="audit")
    router.add_post("/customers/{customer_id}/erase", erase_customer, name="erase_customer")
    router.add_static("/static/", static_dir, name="static", append_version=True)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
