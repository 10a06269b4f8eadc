"""The audit log: who (a staff username, or the system) did what to which conversation, customer or account, when.

Every staff access to a transcript and every change a person makes is recorded here, in the catalog DB's `audit_log`
table. Details are a small JSON object of ids and counts; message text, notes and passwords never go in (keys that
would carry them are refused), so the log itself holds no shopper's words and survives erasure, which only
re-points `target` at the erasure id.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import CatalogUnavailable
from catalog.models import AuditLogRow

MAX_ACTION_CHARS = 40
MAX_ACTOR_CHARS = 64
MAX_TARGET_CHARS = 255
MAX_DETAILS_CHARS = 4000
MAX_PER_PAGE = 500
FORBIDDEN_DETAIL_KEYS = frozenset({"password", "password_hash", "token", "csrf_token", "text", "body", "message"})
"""Keys whose values would be secrets or a shopper's words: the log stores ids and counts, not content."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str | None
    action: str
    target: str | None
    details: dict[str, Any] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _forbidden_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {str(k) for k in value if str(k).lower() in FORBIDDEN_DETAIL_KEYS}
        for item in value.values():
            found |= _forbidden_keys(item)
        return found
    if isinstance(value, list | tuple):
        return set().union(*(_forbidden_keys(item) for item in value)) if value else set()
    return set()


class AuditLog:
    """Append-only audit log. Errors: `ValueError` for a malformed entry (a programming error: the message says
    which field), `CatalogUnavailable` when the database fails."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    def record(
        self, actor: str | None, action: str, target: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        if not action or len(action) > MAX_ACTION_CHARS:
            raise ValueError(
                f"audit action {action!r} should be 1 to {MAX_ACTION_CHARS} characters, e.g. 'view_transcript'"
            )
        if actor is not None and len(actor) > MAX_ACTOR_CHARS:
            raise ValueError(f"audit actor should be at most {MAX_ACTOR_CHARS} characters (a username)")
        if target is not None and len(target) > MAX_TARGET_CHARS:
            raise ValueError(f"audit target should be at most {MAX_TARGET_CHARS} characters (an id)")
        forbidden = _forbidden_keys(details or {})
        if forbidden:
            raise ValueError(
                f"audit details must not hold {', '.join(sorted(forbidden))}: record ids and counts, not content"
            )
        try:
            encoded = json.dumps(details or {}, sort_keys=True, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"audit details should be a JSON object of ids and counts: {exc}") from exc
        if len(encoded) > MAX_DETAILS_CHARS:
            raise ValueError(f"audit details should be at most {MAX_DETAILS_CHARS} characters of JSON")
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(AuditLogRow).values(
                        at=self._clock(), actor=actor, action=action, target=target, details=encoded
                    )
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"writing the audit log failed: {exc}") from exc

    def entries(
        self, page: int = 1, per_page: int = 50, *, actor: str | None = None, target: str | None = None
    ) -> tuple[list[AuditEntry], int]:
        """One page of entries, newest first, and the total count (optionally of one actor or one target)."""
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"page has value {page!r}; expected a whole number from 1")
        if isinstance(per_page, bool) or not isinstance(per_page, int) or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page has value {per_page!r}; expected a whole number from 1 to {MAX_PER_PAGE}")
        conditions = []
        if actor is not None:
            conditions.append(AuditLogRow.actor == actor)
        if target is not None:
            conditions.append(AuditLogRow.target == target)
        try:
            with self._engine.connect() as conn:
                total = int(conn.scalar(select(func.count()).select_from(AuditLogRow).where(*conditions)) or 0)
                rows = conn.execute(
                    select(AuditLogRow)
                    .where(*conditions)
                    .order_by(AuditLogRow.at.desc(), AuditLogRow.id.desc())
                    .limit(per_page)
                    .offset((page - 1) * per_page)
                ).all()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the audit log failed: {exc}") from exc
        entries = [
            AuditEntry(row.id, row.at, row.actor, row.action, row.target, json.loads(row.details or "{}"))
            for row in rows
        ]
        return entries, total

    @staticmethod
    def pages(total: int, per_page: int) -> int:
        return max(1, math.ceil(total / per_page))
