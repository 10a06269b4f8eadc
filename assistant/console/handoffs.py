"""The handoff queue: conversations waiting for a person, and who holds which one.

Rows live in the shop's `handoffs` table (migration 0004): the assistant's `action_handoff` adds a `waiting` row when
a shopper asks for a person (`catalog.shop.ShopService.request_handoff`); here staff take a conversation (`taken`,
one agent at a time) and hand it back (`closed`). An agent may also take over a conversation nobody queued: that
makes a new row that is `taken` at once. Pausing and resuming Rasa is the web layer's job
(`assistant.console.web.handoff`); this module only keeps the queue consistent.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import CatalogUnavailable
from catalog.models import HandoffRow
from catalog.shop import HandoffReason

OPEN_STATUSES = ("waiting", "taken")
STAFF_REASON = "staff" if "staff" in {r.value for r in HandoffReason} else HandoffReason.ASKED.value
"""Reason of a row made by a takeover nobody asked for. It must be a `HandoffReason` value (the shop reads rows back
into that enum), so it is 'asked' until `catalog.shop.HandoffReason` gains a STAFF = "staff" member."""


@dataclass(frozen=True)
class QueuedHandoff:
    id: int
    sender_id: str
    channel: str
    reason: str
    status: str
    requested_at: datetime
    taken_by: str | None
    taken_at: datetime | None


class HandoffConflict(RuntimeError):
    """Another agent holds the conversation; the message names them."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _queued(row: Row[Any]) -> QueuedHandoff:
    return QueuedHandoff(
        id=row.id,
        sender_id=row.sender_id,
        channel=row.channel,
        reason=row.reason,
        status=row.status,
        requested_at=row.requested_at,
        taken_by=row.taken_by,
        taken_at=row.taken_at,
    )


def _open_rows(conn: Connection, sender_id: str) -> builtins.list[Row[Any]]:
    return list(
        conn.execute(
            select(HandoffRow)
            .where(HandoffRow.sender_id == sender_id, HandoffRow.status.in_(OPEN_STATUSES))
            .order_by(HandoffRow.id)
        ).all()
    )


class HandoffQueue:
    """Errors: `HandoffConflict` (someone else holds the conversation), `ValueError` (empty sender id or agent),
    `CatalogUnavailable` (the database failed)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    def open(self) -> builtins.list[QueuedHandoff]:
        """Waiting and taken conversations, oldest request first."""
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(HandoffRow)
                    .where(HandoffRow.status.in_(OPEN_STATUSES))
                    .order_by(HandoffRow.requested_at, HandoffRow.id)
                ).all()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the handoff queue failed: {exc}") from exc
        return [_queued(row) for row in rows]

    def current(self, sender_id: str) -> QueuedHandoff | None:
        """The conversation's open handoff (waiting or taken), or None."""
        try:
            with self._engine.connect() as conn:
                rows = _open_rows(conn, sender_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the handoff failed: {exc}") from exc
        return _queued(rows[0]) if rows else None

    def take(self, sender_id: str, agent: str, channel: str = "rest") -> QueuedHandoff:
        """`agent` (a username) holds the conversation from now on: its waiting row becomes taken, or a new taken
        row is made. Taking a conversation one already holds changes nothing. Raises `HandoffConflict` when another
        agent holds it."""
        _require(sender_id=sender_id, agent=agent)
        now = self._clock()
        try:
            with self._engine.begin() as conn:
                rows = _open_rows(conn, sender_id)
                if rows:
                    row = rows[0]
                    if row.status == "taken":
                        if row.taken_by != agent:
                            raise HandoffConflict(_held_by(row.taken_by))
                        return _queued(row)
                    changed = conn.execute(
                        update(HandoffRow)
                        .where(HandoffRow.id == row.id, HandoffRow.status == "waiting")
                        .values(status="taken", taken_by=agent, taken_at=now)
                    ).rowcount
                    if not changed:  # another agent took it between our read and our write
                        raise HandoffConflict(_held_by(self._holder(conn, sender_id)))
                    new_id = row.id
                else:
                    new_id = conn.scalar(
                        insert(HandoffRow)
                        .values(
                            sender_id=sender_id,
                            channel=(channel or "unknown")[:50],
                            reason=STAFF_REASON,
                            status="taken",
                            requested_at=now,
                            taken_by=agent,
                            taken_at=now,
                        )
                        .returning(HandoffRow.id)
                    )
                    earlier = [r for r in _open_rows(conn, sender_id) if r.id != new_id]
                    if earlier:  # someone queued or took it at the same moment: theirs stands
                        raise HandoffConflict(_held_by(earlier[0].taken_by))
                taken = conn.execute(select(HandoffRow).where(HandoffRow.id == new_id)).one()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"taking over the conversation failed: {exc}") from exc
        return _queued(taken)

    def release(self, sender_id: str, agent: str, *, force: bool = False) -> QueuedHandoff | None:
        """Hand the conversation back to the assistant: its open row is closed. Returns the closed row, or None when
        nothing was open. Raises `HandoffConflict` when another agent holds it, unless `force` (an admin)."""
        _require(sender_id=sender_id, agent=agent)
        try:
            with self._engine.begin() as conn:
                rows = _open_rows(conn, sender_id)
                if not rows:
                    return None
                held = [r for r in rows if r.status == "taken" and r.taken_by not in (None, agent)]
                if held and not force:
                    raise HandoffConflict(_held_by(held[0].taken_by))
                conn.execute(
                    update(HandoffRow)
                    .where(HandoffRow.id.in_([r.id for r in rows]))
                    .values(status="closed", closed_at=self._clock())
                )
                closed = conn.execute(select(HandoffRow).where(HandoffRow.id == rows[0].id)).one()
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"handing the conversation back failed: {exc}") from exc
        return _queued(closed)

    @staticmethod
    def _holder(conn: Connection, sender_id: str) -> str | None:
        rows = _open_rows(conn, sender_id)
        return next((r.taken_by for r in rows if r.status == "taken"), None)


def _held_by(agent: str | None) -> str:
    who = agent or "another agent"
    return f"{who} is already talking to this shopper: ask them to hand the conversation back first"


def _require(**values: str) -> None:
    for name, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} should be a non-empty string")
