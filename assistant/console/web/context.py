"""What the console's handlers share: the services, built once by `create_console_app`, and the request's staff."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web
from sqlalchemy import Engine

from assistant.console.accounts import Account, AccountStore
from assistant.console.annotations import Annotations
from assistant.console.audit import AuditLog
from assistant.console.handoffs import HandoffQueue
from assistant.console.insight import Insight
from assistant.console.privacy import Eraser
from assistant.console.transcripts import TrackerReader
from assistant.console.web.handoff import HandoffService
from assistant.console.web.ratelimit import LoginLimiter
from assistant.console.web.sessions import SessionStore, StaffSession
from assistant.gateway.live import LiveHub
from assistant.gateway.rasa_client import RasaClient
from assistant.settings import Settings
from retrieval.vision.uploads import UploadStore


@dataclass
class Console:
    settings: Settings
    engine: Engine
    rasa: RasaClient
    hub: LiveHub
    sessions: SessionStore
    limiter: LoginLimiter
    accounts: AccountStore
    audit: AuditLog
    reader: TrackerReader
    queue: HandoffQueue
    annotations: Annotations
    insight: Insight
    uploads: UploadStore
    handoff: HandoffService
    eraser: Eraser
    intents: frozenset[str]
    streams: set[asyncio.Event] = field(default_factory=set)
    """Stop signals of the open live streams (SSE): set on shutdown so they end at once."""


@dataclass(frozen=True)
class Staff:
    """The logged-in staff member of a request."""

    account: Account
    session: StaffSession


CONSOLE_KEY = web.AppKey("console", Console)
STAFF_KEY = web.RequestKey("console_staff", Staff)
"""`request[STAFF_KEY]`: the `Staff` of an authenticated request (set by the auth middleware)."""


def console(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def staff(request: web.Request) -> Staff:
    """The request's staff member; the auth middleware guarantees it on every non-public route."""
    try:
        return request[STAFF_KEY]
    except KeyError:
        raise web.HTTPUnauthorized(text="Log in at /staff/login first.") from None
