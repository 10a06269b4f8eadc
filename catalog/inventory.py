"""Stock on hand, incoming replenishments and the stock ledger: every change of stock goes through here.

Each change (an order placed through the assistant, a staff adjustment, a delivery received, a load) updates
`stock_levels.on_hand` and appends a `stock_movements` row in one transaction, so the ledger always explains the
current quantity (per SKU the deltas add up to `on_hand`). A change that would take stock below zero is refused with
`InsufficientStock` and changes nothing; the database's CHECK constraint is a second line of defence.

Loading the whole stock state (`load_stock`) replaces levels and expected replenishments in one transaction and
records the difference to the previous quantity as a 'count' movement. A real store loads its files
(`catalog.stock_files`); the reference store loads a simulation (`catalog.stock_simulation`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import CatalogError, CatalogUnavailable
from catalog.models import (
    ProductRow,
    ReplenishmentRow,
    StockLevelRow,
    StockLoadRow,
    StockMovementRow,
    StockSubscriptionRow,
)

MAX_UNITS = 1_000_000
"""Largest quantity accepted in one change, level or delivery: anything bigger is a typo, not stock."""
MAX_LEAD_TIME_DAYS = 365
MAX_ACTOR_CHARS = 100


class InventoryError(CatalogError):
    """Base class of the stock errors."""


class UnknownProduct(InventoryError):
    """The SKU is not in the catalog."""


class StockNotTracked(InventoryError):
    """The product is in the catalog but has no stock record (not loaded yet, or not sold by this store)."""


class InsufficientStock(InventoryError):
    """The change would take stock below zero; nothing was changed."""


class InvalidStockChange(InventoryError):
    """A quantity, date, actor or reason is out of range; nothing was changed."""


class InvalidStockFile(InventoryError):
    """A stock file is missing or has bad rows; the message lists them (file, line, problem)."""


class StockNotLoaded(InventoryError):
    """No stock has been loaded yet; the message names the command that loads it."""


class MovementReason(StrEnum):
    COUNT = "count"
    """A load or stock take set the quantity."""
    ORDER = "order"
    ADJUSTMENT = "adjustment"
    """A staff correction (damage, found units, ...); needs a note."""
    REPLENISHMENT = "replenishment"
    RETURN = "return"


class ReplenishmentStatus(StrEnum):
    EXPECTED = "expected"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class StockSource(StrEnum):
    SIMULATED = "simulated"
    FILES = "files"


@dataclass(frozen=True)
class StockLevel:
    sku: str
    on_hand: int
    reorder_point: int
    lead_time_days: int
    discontinued: bool = False


@dataclass(frozen=True)
class Replenishment:
    sku: str
    quantity: int
    expected_on: date
    id: int | None = None
    status: ReplenishmentStatus = ReplenishmentStatus.EXPECTED


@dataclass(frozen=True)
class StockMovement:
    sku: str
    delta: int
    on_hand_after: int
    reason: MovementReason
    actor: str
    at: datetime
    reference: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class StockLoad:
    """The latest load of the whole stock state."""

    source: StockSource
    fingerprint: str
    as_of: date
    loaded_at: datetime
    report: Mapping[str, int]


@dataclass(frozen=True)
class LoadReport:
    source: StockSource
    as_of: date
    skipped: bool
    products: int
    units: int
    out_of_stock: int
    discontinued: int
    replenishments: int
    movements: int
    """Ledger rows written (products whose quantity changed)."""


@dataclass(frozen=True)
class Subscription:
    id: int
    sender_id: str
    channel: str
    sku: str
    created_at: datetime
    notified_at: datetime | None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _check_quantity(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidStockChange(f"{name} has value {value!r}; expected a whole number")
    if not low <= value <= MAX_UNITS:
        raise InvalidStockChange(f"{name} has value {value}; expected a whole number from {low} to {MAX_UNITS:,}")


def _check_actor(actor: str) -> str:
    actor = actor.strip() if isinstance(actor, str) else ""
    if not actor or len(actor) > MAX_ACTOR_CHARS:
        raise InvalidStockChange(f"actor has value {actor!r}; expected who made the change (1-{MAX_ACTOR_CHARS} chars)")
    return actor


def _known_product(conn: Connection, sku: str) -> bool:
    return conn.scalar(select(ProductRow.id).where(ProductRow.stock_code == sku)) is not None


def _wrap(action: str) -> Callable[[SQLAlchemyError], CatalogUnavailable]:
    return lambda exc: CatalogUnavailable(f"{action} failed: {exc}")


def change_stock(
    engine: Engine,
    sku: str,
    delta: int,
    reason: MovementReason,
    actor: str,
    reference: str | None = None,
    note: str | None = None,
) -> StockMovement:
    """Add `delta` units (negative: remove) to a product's stock and record it in the ledger, atomically.

    Raises `InsufficientStock` (would go below zero), `UnknownProduct`, `StockNotTracked` or `InvalidStockChange`;
    in every case nothing is written.
    """
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_UNITS:
        raise InvalidStockChange(f"delta has value {delta!r}; expected a non-zero whole number within ±{MAX_UNITS:,}")
    reason = MovementReason(reason)
    actor = _check_actor(actor)
    try:
        with engine.begin() as conn:
            return _apply(conn, sku, delta, reason, actor, reference, note)
    except SQLAlchemyError as exc:
        raise _wrap(f"changing the stock of {sku!r}")(exc) from exc


def _apply(
    conn: Connection,
    sku: str,
    delta: int,
    reason: MovementReason,
    actor: str,
    reference: str | None,
    note: str | None,
) -> StockMovement:
    at = _now()
    after = conn.scalar(
        update(StockLevelRow)
        .where(StockLevelRow.sku == sku, StockLevelRow.on_hand + delta >= 0)
        .values(on_hand=StockLevelRow.on_hand + delta, updated_at=at)
        .returning(StockLevelRow.on_hand)
    )
    if after is None:
        on_hand = conn.scalar(select(StockLevelRow.on_hand).where(StockLevelRow.sku == sku))
        if on_hand is not None:
            raise InsufficientStock(f"{sku}: only {on_hand} on hand, cannot take {-delta}")
        if not _known_product(conn, sku):
            raise UnknownProduct(f"no product with SKU {sku!r} in the catalog")
        raise StockNotTracked(f"{sku} has no stock record; load stock first (`python -m catalog stock load|simulate`)")
    movement = StockMovement(sku, delta, int(after), reason, actor, at, reference, note)
    conn.execute(insert(StockMovementRow).values(**{**asdict(movement), "reason": reason.value}))
    return movement


def change_stock_in(
    conn: Connection, sku: str, delta: int, reason: MovementReason, actor: str, reference: str | None = None
) -> StockMovement:
    """`change_stock` inside the caller's transaction (e.g. a checkout taking several products at once): the caller
    commits or rolls back everything together. Raises the same errors."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > MAX_UNITS:
        raise InvalidStockChange(f"delta has value {delta!r}; expected a non-zero whole number within ±{MAX_UNITS:,}")
    return _apply(conn, sku, delta, MovementReason(reason), _check_actor(actor), reference, None)


def place_order(engine: Engine, sku: str, quantity: int, actor: str, reference: str | None = None) -> StockMovement:
    """Take `quantity` units for an order (e.g. placed through the assistant)."""
    _check_quantity("quantity", quantity, 1)
    return change_stock(engine, sku, -quantity, MovementReason.ORDER, actor, reference=reference)


def adjust_stock(engine: Engine, sku: str, delta: int, actor: str, note: str) -> StockMovement:
    """A staff correction of the quantity on hand; the note says why (damaged, found, stock take ...)."""
    if not note or not note.strip():
        raise InvalidStockChange("note is empty; say why the stock is adjusted")
    return change_stock(engine, sku, delta, MovementReason.ADJUSTMENT, actor, note=note.strip())


def schedule_replenishment(
    engine: Engine, sku: str, quantity: int, expected_on: date, actor: str, today: date
) -> Replenishment:
    """Record an incoming delivery. Refuses dates before `today`, discontinued and untracked products."""
    _check_quantity("quantity", quantity, 1)
    _check_actor(actor)
    if expected_on < today:
        raise InvalidStockChange(f"expected date {expected_on.isoformat()} is in the past (today is {today})")
    try:
        with engine.begin() as conn:
            discontinued = conn.scalar(select(StockLevelRow.discontinued).where(StockLevelRow.sku == sku))
            if discontinued is None:
                if not _known_product(conn, sku):
                    raise UnknownProduct(f"no product with SKU {sku!r} in the catalog")
                raise StockNotTracked(f"{sku} has no stock record; load stock first")
            if discontinued:
                raise InvalidStockChange(f"{sku} is discontinued; it gets no replenishments")
            new_id = conn.scalar(
                insert(ReplenishmentRow)
                .values(
                    sku=sku,
                    quantity=quantity,
                    expected_on=expected_on,
                    status=ReplenishmentStatus.EXPECTED.value,
                    created_at=_now(),
                )
                .returning(ReplenishmentRow.id)
            )
    except SQLAlchemyError as exc:
        raise _wrap(f"scheduling a replenishment of {sku!r}")(exc) from exc
    return Replenishment(sku, quantity, expected_on, id=int(new_id or 0))


def receive_replenishment(engine: Engine, replenishment_id: int, actor: str) -> StockMovement:
    """Mark an expected delivery received and add its units to stock, in one transaction."""
    actor = _check_actor(actor)
    try:
        with engine.begin() as conn:
            row = conn.execute(
                update(ReplenishmentRow)
                .where(
                    ReplenishmentRow.id == replenishment_id,
                    ReplenishmentRow.status == ReplenishmentStatus.EXPECTED.value,
                )
                .values(status=ReplenishmentStatus.RECEIVED.value, closed_at=_now())
                .returning(ReplenishmentRow.sku, ReplenishmentRow.quantity)
            ).first()
            if row is None:
                raise InvalidStockChange(f"no expected replenishment with id {replenishment_id}")
            return _apply(
                conn,
                row.sku,
                int(row.quantity),
                MovementReason.REPLENISHMENT,
                actor,
                f"replenishment:{replenishment_id}",
                None,
            )
    except SQLAlchemyError as exc:
        raise _wrap(f"receiving replenishment {replenishment_id}")(exc) from exc


def movements(engine: Engine, sku: str) -> list[StockMovement]:
    """The ledger of one product, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(StockMovementRow).where(StockMovementRow.sku == sku).order_by(StockMovementRow.id)
        ).all()
    return [
        StockMovement(r.sku, r.delta, r.on_hand_after, MovementReason(r.reason), r.actor, r.at, r.reference, r.note)
        for r in rows
    ]


def latest_load(engine: Engine) -> StockLoad | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(select(StockLoadRow).order_by(StockLoadRow.id.desc()).limit(1)).first()
    except SQLAlchemyError as exc:
        raise _wrap("reading the stock load")(exc) from exc
    if row is None:
        return None
    return StockLoad(StockSource(row.source), row.fingerprint, row.as_of, row.loaded_at, json.loads(row.report))


def store_today(engine: Engine, today: Callable[[], date] = date.today) -> date:
    """The store's current day. The simulated reference store is frozen on its as-of day (its data end there);
    a store loaded from files lives in real time."""
    load = latest_load(engine)
    if load is None:
        raise StockNotLoaded("no stock loaded; run `python -m catalog stock simulate` or `stock load DIR`")
    return load.as_of if load.source is StockSource.SIMULATED else max(today(), load.as_of)


def load_stock(
    engine: Engine,
    levels: Sequence[StockLevel],
    replenishments: Sequence[Replenishment],
    *,
    source: StockSource,
    as_of: date,
    actor: str,
    reference: str,
    fingerprint: str | None = None,
) -> LoadReport:
    """Replace the whole stock state: levels and expected replenishments (received and cancelled ones stay as
    history). Quantity differences to the previous state go to the ledger as 'count' movements. One transaction."""
    actor = _check_actor(actor)
    problems = validate_stock(levels, replenishments, as_of)
    if problems:
        raise InvalidStockFile("bad stock data:\n  " + "\n  ".join(problems[:20]))
    fingerprint = fingerprint or stock_fingerprint(levels, replenishments, as_of)
    at = _now()
    try:
        with engine.begin() as conn:
            skus = {level.sku for level in levels} | {r.sku for r in replenishments}
            known = set(conn.scalars(select(ProductRow.stock_code)))
            unknown = sorted(skus - known)
            if unknown:
                shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
                raise InvalidStockFile(f"{len(unknown)} SKU(s) not in the catalog: {shown}")
            before = dict(conn.execute(select(StockLevelRow.sku, StockLevelRow.on_hand)).all())
            after = {level.sku: level.on_hand for level in levels}
            ledger = [
                {
                    "sku": sku,
                    "delta": after.get(sku, 0) - before.get(sku, 0),
                    "on_hand_after": after.get(sku, 0),
                    "reason": MovementReason.COUNT.value,
                    "actor": actor,
                    "at": at,
                    "reference": reference[:100],
                    "note": None,
                }
                for sku in sorted(before.keys() | after.keys())
                if after.get(sku, 0) != before.get(sku, 0)
            ]
            conn.execute(delete(StockLevelRow))
            conn.execute(delete(ReplenishmentRow).where(ReplenishmentRow.status == ReplenishmentStatus.EXPECTED.value))
            _insert_many(conn, StockLevelRow, ({**asdict(level), "updated_at": at} for level in levels))
            _insert_many(
                conn,
                ReplenishmentRow,
                (
                    {
                        "sku": r.sku,
                        "quantity": r.quantity,
                        "expected_on": r.expected_on,
                        "status": ReplenishmentStatus.EXPECTED.value,
                        "created_at": at,
                    }
                    for r in replenishments
                ),
            )
            _insert_many(conn, StockMovementRow, ledger)
            report = LoadReport(
                source=source,
                as_of=as_of,
                skipped=False,
                products=len(levels),
                units=sum(level.on_hand for level in levels),
                out_of_stock=sum(1 for level in levels if level.on_hand == 0 and not level.discontinued),
                discontinued=sum(1 for level in levels if level.discontinued),
                replenishments=len(replenishments),
                movements=len(ledger),
            )
            counts = {k: v for k, v in asdict(report).items() if isinstance(v, int) and not isinstance(v, bool)}
            conn.execute(
                insert(StockLoadRow).values(
                    source=source.value, fingerprint=fingerprint, as_of=as_of, loaded_at=at, report=json.dumps(counts)
                )
            )
    except SQLAlchemyError as exc:
        raise _wrap("loading stock")(exc) from exc
    return report


def _insert_many(conn: Connection, table: type[Any], rows: Iterable[dict[str, Any]], chunk: int = 5000) -> None:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == chunk:
            conn.execute(insert(table), batch)
            batch = []
    if batch:
        conn.execute(insert(table), batch)


def validate_stock(levels: Sequence[StockLevel], replenishments: Sequence[Replenishment], as_of: date) -> list[str]:
    """Problems with a stock state, one line each (empty: fine)."""
    problems: list[str] = []
    seen: set[str] = set()
    for level in levels:
        if level.sku in seen:
            problems.append(f"{level.sku}: listed twice")
        seen.add(level.sku)
        for name, value, high in (
            ("on_hand", level.on_hand, MAX_UNITS),
            ("reorder_point", level.reorder_point, MAX_UNITS),
            ("lead_time_days", level.lead_time_days, MAX_LEAD_TIME_DAYS),
        ):
            if not 0 <= value <= high:
                problems.append(f"{level.sku}: {name} {value} is outside 0..{high:,}")
    discontinued = {level.sku for level in levels if level.discontinued}
    for r in replenishments:
        if r.sku not in seen:
            problems.append(f"{r.sku}: replenishment for a product without a stock row")
        if not 1 <= r.quantity <= MAX_UNITS:
            problems.append(f"{r.sku}: replenishment quantity {r.quantity} is outside 1..{MAX_UNITS:,}")
        if r.expected_on < as_of:
            problems.append(f"{r.sku}: replenishment expected {r.expected_on} is before the as-of day {as_of}")
        if r.sku in discontinued:
            problems.append(f"{r.sku}: discontinued but has a replenishment")
    return problems


def stock_fingerprint(levels: Sequence[StockLevel], replenishments: Sequence[Replenishment], as_of: date) -> str:
    digest = hashlib.sha256(as_of.isoformat().encode())
    for level in sorted(levels, key=lambda x: x.sku):
        digest.update(repr(asdict(level)).encode())
    for r in sorted(replenishments, key=lambda x: (x.sku, x.expected_on, x.quantity)):
        digest.update(f"{r.sku}|{r.quantity}|{r.expected_on}".encode())
    return digest.hexdigest()


# --- back-in-stock subscriptions ---------------------------------------------------------------------------------


def subscribe(engine: Engine, sender_id: str, channel: str, sku: str) -> Subscription:
    """Remember that a shopper wants a message when `sku` is back; asking again returns the pending subscription."""
    if not sender_id or not channel:
        raise InvalidStockChange("a subscription needs the shopper's sender_id and channel")
    try:
        with engine.begin() as conn:
            if not _known_product(conn, sku):
                raise UnknownProduct(f"no product with SKU {sku!r} in the catalog")
            pending = StockSubscriptionRow.notified_at.is_(None)
            match = (
                StockSubscriptionRow.sender_id == sender_id,
                StockSubscriptionRow.channel == channel,
                StockSubscriptionRow.sku == sku,
            )
            row = conn.execute(select(StockSubscriptionRow).where(*match, pending)).first()
            if row is None:
                conn.execute(
                    insert(StockSubscriptionRow).values(
                        sender_id=sender_id, channel=channel, sku=sku, created_at=_now()
                    )
                )
                row = conn.execute(select(StockSubscriptionRow).where(*match, pending)).one()
    except SQLAlchemyError as exc:
        raise _wrap("storing a back-in-stock subscription")(exc) from exc
    return Subscription(row.id, row.sender_id, row.channel, row.sku, row.created_at, row.notified_at)


def due_subscriptions(engine: Engine, sender_id: str | None = None) -> list[Subscription]:
    """Pending subscriptions whose product is in stock again (to be messaged, then `mark_notified`); only one
    shopper's when `sender_id` is given."""
    query = (
        select(StockSubscriptionRow)
        .join(StockLevelRow, StockLevelRow.sku == StockSubscriptionRow.sku)
        .where(StockSubscriptionRow.notified_at.is_(None), StockLevelRow.on_hand > 0)
        .order_by(StockSubscriptionRow.id)
    )
    if sender_id is not None:
        query = query.where(StockSubscriptionRow.sender_id == sender_id)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as exc:
        raise _wrap("reading back-in-stock subscriptions")(exc) from exc
    return [Subscription(r.id, r.sender_id, r.channel, r.sku, r.created_at, r.notified_at) for r in rows]


def mark_notified(engine: Engine, ids: Sequence[int]) -> int:
    """Mark subscriptions as messaged; returns how many were still pending."""
    if not ids:
        return 0
    with engine.begin() as conn:
        result = conn.execute(
            update(StockSubscriptionRow)
            .where(StockSubscriptionRow.id.in_(list(ids)), StockSubscriptionRow.notified_at.is_(None))
            .values(notified_at=_now())
        )
    return int(result.rowcount or 0)


def ledger_totals(engine: Engine) -> dict[str, int]:
    """Sum of ledger deltas per SKU (equals `on_hand` for every tracked product)."""
    with engine.connect() as conn:
        query = select(StockMovementRow.sku, func.sum(StockMovementRow.delta)).group_by(StockMovementRow.sku)
        rows = conn.execute(query)
        return {sku: int(total) for sku, total in rows}
