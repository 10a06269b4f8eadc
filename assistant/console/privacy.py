"""Erasure of a shopper's data, on request and by retention.

What goes, for each erased conversation (sender id):
- Rasa's tracker store: every event of the sender (messages, NLU parses, slots such as `customer_id`);
- the catalog DB: the console's index row (its full-text entry goes with it), tags, notes, intent corrections, the
  basket, back-in-stock alerts and handoffs;
- uploaded photos of the sender (`retrieval.vision.uploads.UploadStore` files);
- kept, but no longer pointing at the person: orders and return requests stay as the shop's sales records with
  `sender_id` → `erased:<erasure id>`, `customer_id` and the delivery address → NULL and a return's free-text reason
  → "(erased)"; the shopper's erasure requests and audit entries naming the sender are re-pointed the same way.
Erasing a customer does that for every conversation that set the `customer_id` slot to them (or placed an order or
return as them), and also detaches the reference store's invoices (`orders.customer_id` → NULL) and deletes the
`customers` row. The erasure's own audit entry holds the erasure id, the actor and row counts: nothing personal.

With `log_dir` (the stack's `<STATE_DIR>/logs`), the erased ids are also blotted out of the log files, in place
and at the same length (`scrub_logs`), and for up to `FEW_IDS` conversations so are the messages the shopper typed.

Deleted rows must not linger in the files either: on SQLite the deletes run with `PRAGMA secure_delete` (freed pages
are zeroed), the FTS5 index is merged (`optimize`, so no old segment keeps the words) and the WAL is checkpointed and
truncated. On PostgreSQL dead rows stay in the table files until autovacuum reuses them (not readable through SQL).

Known limit: Rasa's SQLTrackerStore writes a turn's events after handling the message; erasing a conversation while
one of its messages is being handled can let that save write the tracker back. The shopper's own request is safe
(`process_requests` waits `min_age_s` for the turn to be stored); staff erase conversations that are over.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Text,
    column,
    create_engine,
    delete,
    func,
    inspect,
    or_,
    select,
    table,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from catalog.models import (
    AuditLogRow,
    CartItemRow,
    ConversationNoteRow,
    ConversationRow,
    ConversationTagRow,
    CustomerRow,
    ErasureRequestRow,
    HandoffRow,
    IntentCorrectionRow,
    OrderRow,
    ReturnRequestRow,
    ShopOrderRow,
    StockSubscriptionRow,
)
from retrieval.vision.uploads import IMAGE_ID

if TYPE_CHECKING:
    from assistant.console.audit import AuditLog

logger = logging.getLogger(__name__)

CHUNK = 400
"""Sender ids per statement (SQLite allows 32,766 bound parameters; small chunks keep each transaction short)."""
ERASED_REASON = "(erased)"

EVENTS = table(
    "events",
    column("id", Integer),
    column("sender_id", String),
    column("type_name", String),
    column("timestamp", Float),
    column("intent_name", String),
    column("action_name", String),
    column("data", Text),
)
"""Rasa's SQLTrackerStore table (rasa/core/tracker_store.py); slot events carry the slot's name in `action_name`."""


class ErasureError(RuntimeError):
    """An erasure could not be completed; running it again is safe (every step is idempotent)."""


@dataclass(frozen=True)
class ErasureReport:
    erasure_id: str
    rows: dict[str, int]
    """Rows deleted or re-pointed per table ("events" is the tracker store)."""
    files: int
    """Uploaded photos deleted."""

    @property
    def marker(self) -> str:
        return f"erased:{self.erasure_id}"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def tracker_engine(tracker_url: str) -> Engine:
    """An engine on Rasa's tracker store that leaves its settings alone (no WAL switch), with timeouts.

    A bare `postgresql://` URL (the form Rasa's endpoints and TRACKER_DB_URL use) gets the psycopg2 driver: SQLAlchemy
    2.1 would pick psycopg 3, which neither runtime installs."""
    url = make_url(tracker_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return create_engine(url, connect_args={"timeout": 30})
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg2")
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    return create_engine(url, pool_pre_ping=True)


class Eraser:
    """Erases conversations and customers from both databases and the uploads folder (blocking: use a thread)."""

    def __init__(
        self, catalog_engine: Engine, tracker_url: str, uploads_dir: Path, audit: AuditLog, log_dir: Path | None = None
    ) -> None:
        """`log_dir`: the stack's log folder (`<STATE_DIR>/logs`); when given, erased ids (and, for a few
        conversations, the shopper's messages) are blotted out of its `*.log` files in place, see `scrub_logs`."""
        self._catalog = catalog_engine
        self._tracker = tracker_engine(tracker_url)
        self._uploads_dir = uploads_dir
        self._audit = audit
        self._log_dir = log_dir

    def close(self) -> None:
        self._tracker.dispose()

    # --- public operations ------------------------------------------------------------------------------------------

    def erase_conversation(self, sender_id: str, actor: str | None) -> ErasureReport:
        """Erase one conversation (see the module docstring). Erasing an unknown id is harmless and still audited."""
        _check_id("sender id", sender_id, 255)
        report = self._erase([sender_id], customer_id=None)
        self._record(actor, "erase_conversation", report, {"conversations": 1})
        return report

    def erase_customer(self, customer_id: str, actor: str | None) -> ErasureReport:
        """Erase every conversation of the customer, their shop records and their link to the store's invoices."""
        _check_id("customer id", customer_id, 20)
        senders = sorted(self._customer_senders(customer_id))
        report = self._erase(senders, customer_id=customer_id)
        self._record(actor, "erase_customer", report, {"conversations": len(senders)})
        return report

    def process_requests(self, min_age_s: float = 3.0) -> int:
        """Erase the conversations whose shopper asked for it ("delete my data") at least `min_age_s` ago (so the
        turn that asked is stored first and erased with the rest). Returns how many conversations were erased."""
        cutoff = _now() - timedelta(seconds=min_age_s)
        with self._catalog.connect() as conn:
            senders = sorted(
                {
                    str(sid)
                    for sid in conn.scalars(
                        select(ErasureRequestRow.sender_id).where(
                            ErasureRequestRow.done_at.is_(None), ErasureRequestRow.requested_at <= cutoff
                        )
                    )
                    if not str(sid).startswith("erased:")
                }
            )
        for sender_id in senders:
            report = self._erase([sender_id], customer_id=None)
            self._record("shopper", "erase_conversation", report, {"conversations": 1, "source": "request"})
        return len(senders)

    def purge_older_than(self, days: int, actor: str | None = "retention") -> int:
        """Erase every conversation whose latest event is more than `days` days old, and uploads, baskets, alerts and
        handoffs of that age with no newer conversation. One audit entry for the run. Returns conversations erased."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise ValueError(f"retention needs a whole number of days ≥ 1, got {days!r} (RETENTION_DAYS=0 keeps all)")
        cutoff = _now() - timedelta(days=days)
        cutoff_ts = cutoff.replace(tzinfo=UTC).timestamp()
        old: set[str] = set()
        recent: set[str] = set()
        if self._has_events():
            with self._tracker.connect() as conn:
                last = func.max(EVENTS.c.timestamp)
                for sid, newest in conn.execute(select(EVENTS.c.sender_id, last).group_by(EVENTS.c.sender_id)):
                    (old if newest is not None and newest < cutoff_ts else recent).add(str(sid))
        with self._catalog.connect() as conn:
            for row_type, moment in (
                (ConversationRow, ConversationRow.last_at),
                (CartItemRow, CartItemRow.added_at),
                (StockSubscriptionRow, StockSubscriptionRow.created_at),
                (HandoffRow, HandoffRow.requested_at),
            ):
                stale = conn.scalars(select(row_type.sender_id).where(moment < cutoff).distinct())
                old.update(str(s) for s in stale if str(s) not in recent)
        old = {s for s in old if not s.startswith("erased:")}
        report = self._erase(sorted(old), customer_id=None, uploads_before=cutoff)
        self._record(actor, "retention_purge", report, {"conversations": len(old), "days": days})
        return len(old)

    # --- finding what belongs to whom ---------------------------------------------------------------------------------

    def _has_events(self) -> bool:
        try:
            return bool(inspect(self._tracker).has_table("events"))
        except SQLAlchemyError as exc:
            raise ErasureError(f"cannot open Rasa's tracker store {self._tracker.url!r}: {exc}") from exc

    def _customer_senders(self, customer_id: str) -> set[str]:
        senders: set[str] = set()
        if self._has_events():
            like = "%" + _like_escape(customer_id) + "%"
            query = select(EVENTS.c.sender_id, EVENTS.c.data).where(
                EVENTS.c.type_name == "slot",
                EVENTS.c.action_name == "customer_id",
                EVENTS.c.data.like(like, escape="\\"),
            )
            with self._tracker.connect() as conn:
                for sid, data in conn.execute(query):
                    try:
                        value = json.loads(data or "{}").get("value")
                    except (ValueError, AttributeError):
                        continue
                    if value is not None and str(value).strip() == customer_id:
                        senders.add(str(sid))
        with self._catalog.connect() as conn:
            for row_type in (ConversationRow, ShopOrderRow, ReturnRequestRow):
                senders.update(
                    str(s) for s in conn.scalars(select(row_type.sender_id).where(row_type.customer_id == customer_id))
                )
        return {s for s in senders if not s.startswith("erased:")}

    # --- the erasure itself -----------------------------------------------------------------------------------------

    def _erase(
        self, senders: Sequence[str], customer_id: str | None, uploads_before: datetime | None = None
    ) -> ErasureReport:
        erasure_id = secrets.token_hex(6)
        marker = f"erased:{erasure_id}"
        rows: dict[str, int] = {}
        has_events = bool(senders) and self._has_events()
        try:
            words = self._user_texts(senders) if has_events and self._log_dir and len(senders) <= FEW_IDS else []
            # one short transaction per chunk and database, so Rasa and the console are never locked out for long;
            # the tracker first: an index sync running meanwhile then finds nothing to bring back
            for chunk in _chunks(senders):
                if has_events:
                    with self._tracker.begin() as conn:
                        _secure_delete(conn)
                        _add(rows, "events", conn.execute(delete(EVENTS).where(EVENTS.c.sender_id.in_(chunk))))
                with self._catalog.begin() as conn:
                    _secure_delete(conn)
                    self._erase_chunk(conn, chunk, marker, rows)
            if senders:
                with self._catalog.begin() as conn:
                    _secure_delete(conn)
                    _add(rows, "audit_log", _repoint_audit_senders(conn, set(senders), marker))
            if customer_id is not None:
                with self._catalog.begin() as conn:
                    _secure_delete(conn)
                    self._detach_customer(conn, customer_id, marker, rows)
            files = self._erase_uploads(set(senders), uploads_before)
            if self._log_dir is not None:
                ids = set(senders) | ({customer_id} if customer_id else set())
                _add(rows, "log_redactions", scrub_logs(self._log_dir, ids, words))
            if has_events:
                _compact_sqlite(self._tracker, fts=False)
            _compact_sqlite(self._catalog, fts=True)
        except SQLAlchemyError as exc:
            raise ErasureError(f"the erasure stopped part-way ({exc.__class__.__name__}); run it again: {exc}") from exc
        except OSError as exc:
            raise ErasureError(
                f"deleting uploaded photos failed; fix the folder's permissions and run again: {exc}"
            ) from exc
        return ErasureReport(erasure_id, {k: v for k, v in sorted(rows.items()) if v}, files)

    def _user_texts(self, senders: Sequence[str]) -> list[str]:
        """What these shoppers typed (to blot out of the logs too), longest first; short ones would hit other text."""
        texts: set[str] = set()
        with self._tracker.connect() as conn:
            for (data,) in conn.execute(
                select(EVENTS.c.data).where(EVENTS.c.sender_id.in_(list(senders)), EVENTS.c.type_name == "user")
            ):
                try:
                    typed = json.loads(data or "{}").get("text")
                except (ValueError, AttributeError):
                    continue
                if isinstance(typed, str) and len(typed.strip()) >= MIN_SCRUB_CHARS:
                    texts.add(typed.strip())
        return sorted(texts, key=len, reverse=True)

    def _erase_chunk(self, conn: Connection, chunk: list[str], marker: str, rows: dict[str, int]) -> None:
        for row_type in (
            ConversationRow,
            ConversationTagRow,
            ConversationNoteRow,
            IntentCorrectionRow,
            CartItemRow,
            StockSubscriptionRow,
            HandoffRow,
        ):
            _add(rows, row_type.__tablename__, conn.execute(delete(row_type).where(row_type.sender_id.in_(chunk))))
        now = _now()
        _add(
            rows,
            "erasure_requests",
            conn.execute(
                update(ErasureRequestRow)
                .where(ErasureRequestRow.sender_id.in_(chunk))
                .values(sender_id=marker, done_at=func.coalesce(ErasureRequestRow.done_at, now))
            ),
        )
        _add(
            rows,
            "shop_orders",
            conn.execute(
                update(ShopOrderRow)
                .where(ShopOrderRow.sender_id.in_(chunk))
                .values(sender_id=marker, customer_id=None, delivery_address=None)
            ),
        )
        _add(
            rows,
            "return_requests",
            conn.execute(
                update(ReturnRequestRow)
                .where(ReturnRequestRow.sender_id.in_(chunk))
                .values(sender_id=marker, customer_id=None, reason=ERASED_REASON)
            ),
        )

    def _detach_customer(self, conn: Connection, customer_id: str, marker: str, rows: dict[str, int]) -> None:
        for row_type in (ShopOrderRow, ReturnRequestRow):  # records placed as the customer from an erased chat
            values: dict[str, Any] = {"customer_id": None}
            if row_type is ShopOrderRow:
                values["delivery_address"] = None
            _add(
                rows,
                row_type.__tablename__,
                conn.execute(update(row_type).where(row_type.customer_id == customer_id).values(**values)),
            )
        _add(
            rows,
            "conversations",
            conn.execute(delete(ConversationRow).where(ConversationRow.customer_id == customer_id)),
        )
        _add(
            rows,
            "orders",
            conn.execute(update(OrderRow).where(OrderRow.customer_id == customer_id).values(customer_id=None)),
        )
        _add(rows, "customers", conn.execute(delete(CustomerRow).where(CustomerRow.id == customer_id)))
        whole = re.compile(r"(?<![0-9A-Za-z])(?:customer:)?" + re.escape(customer_id) + r"(?![0-9A-Za-z])")
        like = f"%{_like_escape(customer_id)}%"
        found = conn.execute(
            select(AuditLogRow.id, AuditLogRow.target, AuditLogRow.details).where(
                or_(AuditLogRow.target.like(like, escape="\\"), AuditLogRow.details.like(like, escape="\\"))
            )
        ).all()
        changed = 0
        for row_id, target, details in found:
            new_target = marker if target and whole.search(target) else target
            new_details = whole.sub(marker, details) if details else details
            changed += _update_audit(conn, row_id, (target, details), (new_target, new_details))
        _add(rows, "audit_log", changed)

    def _erase_uploads(self, senders: set[str], before: datetime | None) -> int:
        """Delete the photos of `senders`, and with `before` also every photo stored before then (retention)."""
        folder = self._uploads_dir
        if not folder.is_dir() or (not senders and before is None):
            return 0
        erased = 0
        for meta_path in folder.glob("*.json"):
            if not IMAGE_ID.fullmatch(meta_path.stem):
                continue
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            doomed = meta.get("sender_id") in senders
            if not doomed and before is not None:
                try:
                    created = datetime.fromisoformat(str(meta.get("created_at")))
                except ValueError:
                    created = None
                if created is not None:
                    created = created.astimezone(UTC).replace(tzinfo=None) if created.tzinfo else created
                    doomed = created < before
            if doomed:
                meta_path.with_suffix(".jpg").unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                erased += 1
        return erased

    def _record(self, actor: str | None, action: str, report: ErasureReport, extra: dict[str, Any]) -> None:
        details: dict[str, Any] = {"erasure_id": report.erasure_id, **extra, "rows": report.rows, "files": report.files}
        self._audit.record(actor, action, report.marker, details)
        logger.info("%s %s: %s", action, report.erasure_id, json.dumps(details["rows"]))


def _add(rows: dict[str, int], name: str, result: Any) -> None:
    count = result if isinstance(result, int) else int(getattr(result, "rowcount", 0) or 0)
    rows[name] = rows.get(name, 0) + max(count, 0)


FEW_IDS = 20
"""Up to this many sender ids, audit rows are found with LIKE; beyond (retention), one pass over the log."""
TOKEN = re.compile(r"[\w\-]+")


def _repoint_audit_senders(conn: Connection, senders: set[str], marker: str) -> int:
    """Point audit targets naming an erased sender (also "<sender>/<photo>") at the marker, and replace the sender
    ids inside details; returns the rows changed."""
    query = select(AuditLogRow.id, AuditLogRow.target, AuditLogRow.details)
    odd = [s for s in senders if not TOKEN.fullmatch(s)]  # ids with other characters: matched as substrings
    if len(senders) <= FEW_IDS:
        likes = [f"%{_like_escape(s)}%" for s in senders]
        query = query.where(
            or_(*[AuditLogRow.target.like(p, escape="\\") for p in likes],
                *[AuditLogRow.details.like(p, escape="\\") for p in likes])
        )  # fmt: skip

    def swap(text_: str) -> str:
        text_ = TOKEN.sub(lambda m: marker if m.group(0) in senders else m.group(0), text_)
        for sender in odd:
            text_ = text_.replace(sender, marker)
        return text_

    changed = 0
    for row_id, target, details in conn.execute(query).all():
        new_target = marker if target and swap(target) != target else target  # e.g. "<sender>/<image id>" goes whole
        new_details = swap(details) if details else details
        changed += _update_audit(conn, row_id, (target, details), (new_target, new_details))
    return changed


def _update_audit(conn: Connection, row_id: int, old: tuple[Any, Any], new: tuple[Any, Any]) -> int:
    if old == new:
        return 0
    conn.execute(update(AuditLogRow).where(AuditLogRow.id == row_id).values(target=new[0], details=new[1]))
    return 1


MIN_SCRUB_CHARS = 8
LOG_TOKEN = re.compile(rb"[\w\-]+")


def scrub_logs(log_dir: Path, ids: set[str], texts: Sequence[str] = ()) -> int:
    """Overwrite every occurrence of `ids` (as whole tokens) and `texts` in `log_dir/*.log*` with '*' of the same
    length, in place: the processes writing those files keep their offsets, so nothing they write later is lost or
    misplaced. Returns the occurrences blotted out."""
    if not log_dir.is_dir() or not (ids or texts):
        return 0
    id_bytes = {i.encode("utf-8") for i in ids}
    odd = [i for i in id_bytes if not LOG_TOKEN.fullmatch(i)]
    needles = odd + [t.encode("utf-8") for t in texts]
    needles += [json.dumps(t)[1:-1].encode("utf-8") for t in texts if json.dumps(t)[1:-1] != t]
    total = 0
    for path in sorted(log_dir.glob("*.log*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        spans = [m.span() for m in LOG_TOKEN.finditer(data) if m.group(0) in id_bytes]
        for needle in needles:
            start = data.find(needle)
            while start != -1:
                spans.append((start, start + len(needle)))
                start = data.find(needle, start + len(needle))
        if not spans:
            continue
        with path.open("r+b") as handle:
            for start, end in spans:
                handle.seek(start)
                handle.write(b"*" * (end - start))
        total += len(spans)
    return total


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _secure_delete(conn: Connection) -> None:
    """SQLite: overwrite deleted content with zeros, so erased text is not left in free pages of the file. Left on
    for the pooled connection (many builds, Debian's and pyenv's included, have it on by default anyway)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA secure_delete=ON")


def _compact_sqlite(engine: Engine, fts: bool) -> None:
    """SQLite: merge the FTS5 index (deleted entries leave its old segments) and empty the WAL into the file."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        if fts and inspect(conn).has_table("conversations_fts"):
            _secure_delete(conn)
            conn.exec_driver_sql("INSERT INTO conversations_fts(conversations_fts) VALUES ('optimize')")
            conn.commit()
        for _attempt in range(20):
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
            if busy is None or not busy[0]:
                break
            time.sleep(0.05)  # a reader holds an old snapshot: the checkpoint completes once it is done
        else:
            logger.warning("the WAL of %s could not be emptied now (busy); SQLite empties it later", engine.url)
        conn.commit()


def _check_id(what: str, value: str, longest: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise ValueError(f"{what} {value!r} must be 1 to {longest} characters")
    if value.startswith("erased:"):
        raise ValueError(f"{what} {value!r} is already an erasure marker: there is nothing left to erase")
