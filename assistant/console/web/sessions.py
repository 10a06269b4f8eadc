"""Server-side staff sessions in the catalog DB's `staff_sessions` table.

The browser holds a random token; the table holds only its SHA-256, so a copy of the database (a backup, a leaked
dump) logs nobody in. A session dies after `idle` without a request (each request slides the expiry forward) and on
logout, when its row is deleted. Blocking (SQLAlchemy 2): the web handlers call it through `asyncio.to_thread`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Engine, Integer, String, column, delete, insert, select, table, update

TOKEN_BYTES = 32
TOUCH_EVERY = timedelta(seconds=60)
"""A request refreshes `last_seen_at`/`expires_at` at most this often: one write per minute, not per request."""

_sessions = table(
    "staff_sessions",
    column("token_hash", String),
    column("account_id", Integer),
    column("csrf_token", String),
    column("created_at", DateTime),
    column("last_seen_at", DateTime),
    column("expires_at", DateTime),
)


def utcnow() -> datetime:
    """Naive UTC, like every DateTime column of the catalog DB."""
    return datetime.now(UTC).replace(tzinfo=None)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StaffSession:
    token_hash: str
    account_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class NewSession:
    token: str
    """The cookie value: shown to the browser once, never stored."""
    session: StaffSession


class SessionStore:
    """Create, look up (sliding idle expiry) and delete staff sessions."""

    def __init__(self, engine: Engine, idle: timedelta, clock: Callable[[], datetime] = utcnow) -> None:
        if idle <= timedelta(0):
            raise ValueError(f"idle has value {idle!r}; expected a positive duration (CONSOLE_SESSION_MINUTES)")
        self._engine = engine
        self._idle = idle
        self._clock = clock

    def create(self, account_id: int) -> NewSession:
        """A fresh session (new token and CSRF token) for `account_id`: called on every login (no fixation)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        session = StaffSession(hash_token(token), account_id, secrets.token_urlsafe(32), now, now + self._idle)
        with self._engine.begin() as connection:
            connection.execute(
                insert(_sessions).values(
                    token_hash=session.token_hash,
                    account_id=account_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=session.expires_at,
                )
            )
        return NewSession(token, session)

    def lookup(self, token: str) -> StaffSession | None:
        """The live session of `token`, its expiry slid forward; None when unknown or expired (then deleted)."""
        if not token or len(token) > 128:
            return None
        token_hash = hash_token(token)
        now = self._clock()
        with self._engine.begin() as connection:
            row = connection.execute(
                select(
                    _sessions.c.account_id,
                    _sessions.c.csrf_token,
                    _sessions.c.created_at,
                    _sessions.c.last_seen_at,
                    _sessions.c.expires_at,
                ).where(_sessions.c.token_hash == token_hash)
            ).first()
            if row is None:
                return None
            if row.expires_at <= now:
                connection.execute(delete(_sessions).where(_sessions.c.token_hash == token_hash))
                return None
            expires_at = row.expires_at
            if now - row.last_seen_at >= TOUCH_EVERY:
                expires_at = now + self._idle
                connection.execute(
                    update(_sessions)
                    .where(_sessions.c.token_hash == token_hash)
                    .values(last_seen_at=now, expires_at=expires_at)
                )
        return StaffSession(token_hash, int(row.account_id), str(row.csrf_token), row.created_at, expires_at)

    def is_live(self, token_hash: str) -> bool:
        """Whether the session still exists and has not expired, without sliding its expiry: a long-lived stream
        re-checks with this, so an unattended open tab still logs out after the idle time."""
        with self._engine.connect() as connection:
            expires_at = connection.execute(
                select(_sessions.c.expires_at).where(_sessions.c.token_hash == token_hash)
            ).scalar_one_or_none()
        return expires_at is not None and expires_at > self._clock()

    def delete(self, token_hash: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(_sessions).where(_sessions.c.token_hash == token_hash))

    def delete_for_account(self, account_id: int) -> int:
        """Log an account out everywhere (e.g. after it was disabled); returns how many sessions ended."""
        with self._engine.begin() as connection:
            result = connection.execute(delete(_sessions).where(_sessions.c.account_id == account_id))
        return int(result.rowcount or 0)

    def purge_expired(self) -> int:
        """Delete expired rows (the background task calls this); returns how many."""
        with self._engine.begin() as connection:
            result = connection.execute(delete(_sessions).where(_sessions.c.expires_at <= self._clock()))
        return int(result.rowcount or 0)
