"""The shop's own records behind the conversation: a basket per conversation, checkout, orders, returns, handoffs.

Every call names the conversation (`sender_id`, from Rasa's tracker, never from the shopper's words) and, when the
shopper has proven who they are, the customer. An order is visible only to the conversation that placed it or to its
verified customer; anything else is `UnknownOrder`, so nobody can probe other people's order numbers.

Orders come from two places: invoices of the reference store (`orders`, read-only history: delivered) and orders
placed through the assistant (`shop_orders`: placed → cancelled, or dispatched/delivered by staff).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from catalog.errors import CatalogError, CatalogUnavailable
from catalog.inventory import (
    InsufficientStock,
    MovementReason,
    StockNotTracked,
    change_stock_in,
)
from catalog.models import (
    CartItemRow,
    CustomerRow,
    ErasureRequestRow,
    HandoffRow,
    OrderLineRow,
    OrderRow,
    ProductRow,
    ReturnRequestRow,
    ShopOrderLineRow,
    ShopOrderRow,
    StockLevelRow,
    StockSubscriptionRow,
)

MAX_LINE_QUANTITY = 999
MAX_CART_LINES = 50
MAX_TEXT_CHARS = 500
FIRST_SHOP_ORDER = 600001
"""Orders placed through the assistant are numbered after the reference store's invoices (which end at 581587)."""
RETURN_DAYS = 30
DELIVERY_DAYS = 3
"""A historical invoice counts as delivered this many days after it was invoiced."""
ACTOR = "assistant"
CHECKOUT_ATTEMPTS = 5

ORDER_NO = re.compile(r"^C?\d{6}$")
CUSTOMER_NO = re.compile(r"^\d{5}$")


class ShopError(CatalogError):
    """Base class of the errors a shopper's request can meet; the message is safe to show."""


class UnknownOrder(ShopError):
    """No such order, or not one this conversation or verified customer may see (the two look the same)."""


class OrderNotChangeable(ShopError):
    """The order exists but its state does not allow the change (already cancelled, delivered, ...)."""


class EmptyCart(ShopError):
    pass


class InvalidRequest(ShopError):
    """A quantity, address or reason out of bounds."""


class NotInCatalog(ShopError):
    pass


class ItemsUnavailable(ShopError):
    """Checkout stopped: some lines cannot be filled. Nothing was taken from stock."""

    def __init__(self, short: list[tuple[str, str, int, int]]) -> None:
        self.short = short
        """(sku, title, wanted, available) per line that cannot be filled."""
        names = ", ".join(f"{title} ({available} left, {wanted} wanted)" for _, title, wanted, available in short)
        super().__init__(f"not enough stock for: {names}")


class OrderStatus(StrEnum):
    PLACED = "placed"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class HandoffReason(StrEnum):
    ASKED = "asked"
    COMPLAINT = "complaint"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    ERASURE = "erasure"
    """Older rows only: "delete my data" now queues an `erasure_requests` row that the console erases by itself."""
    STAFF = "staff"
    """A staff member took the conversation over from the console without the shopper asking."""


@dataclass(frozen=True)
class CartLine:
    sku: str
    title: str
    quantity: int
    unit_price: Decimal

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Cart:
    lines: tuple[CartLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True)
class Order:
    order_no: str
    status: OrderStatus
    placed_at: datetime
    total: Decimal
    items: int
    """Units ordered."""
    placed_here: bool
    """True for an order placed through the assistant, False for the store's invoice history."""
    delivery_address: str | None = None
    delivered_on: date | None = None


@dataclass(frozen=True)
class ReturnRequest:
    id: int
    order_no: str
    reason: str


@dataclass(frozen=True)
class Handoff:
    id: int
    status: str
    reason: HandoffReason
    requested_at: datetime
    already_requested: bool
    """True when the conversation was waiting for staff already (no second request was made)."""


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _bounded_text(name: str, value: str, low: int = 1) -> str:
    text = " ".join(str(value or "").split())
    if not low <= len(text) <= MAX_TEXT_CHARS:
        raise InvalidRequest(f"the {name} should be {low} to {MAX_TEXT_CHARS} characters long")
    return text


def _quantity(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LINE_QUANTITY:
        raise InvalidRequest(f"the quantity should be a whole number from 1 to {MAX_LINE_QUANTITY}")
    return value


class ShopService:
    """Baskets, orders, returns and handoffs over the catalog database. Errors: `ShopError` subclasses (show their
    message to the shopper) and `CatalogUnavailable` (the database failed)."""

    def __init__(
        self, engine: Engine, clock: Callable[[], datetime] = _now, today: Callable[[], date] | None = None
    ) -> None:
        """`today`: the store's day, for the state of invoices (the simulated reference store is frozen on the day
        its data end; default: the clock's day)."""
        self._engine = engine
        self._clock = clock
        self._today = today if today is not None else lambda: clock().date()

    # --- basket ---------------------------------------------------------------------------------------------------

    def cart(self, sender_id: str) -> Cart:
        try:
            with self._engine.connect() as conn:
                return self._cart(conn, sender_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the basket failed: {exc}") from exc

    def _cart(self, conn: Connection, sender_id: str) -> Cart:
        rows = conn.execute(
            select(CartItemRow.sku, ProductRow.title, CartItemRow.quantity, ProductRow.unit_price)
            .join(ProductRow, ProductRow.stock_code == CartItemRow.sku)
            .where(CartItemRow.sender_id == sender_id)
            .order_by(CartItemRow.added_at, CartItemRow.sku)
        ).all()
        return Cart(tuple(CartLine(r.sku, r.title, r.quantity, r.unit_price) for r in rows))

    def add_to_cart(self, sender_id: str, sku: str, quantity: int = 1) -> Cart:
        """Add units of a product (adds up with what is in the basket already, up to MAX_LINE_QUANTITY)."""
        quantity = _quantity(quantity)
        try:
            with self._engine.begin() as conn:
                if conn.scalar(select(ProductRow.id).where(ProductRow.stock_code == sku)) is None:
                    raise NotInCatalog(f"there is no product with item number {sku}")
                current = conn.scalar(
                    select(CartItemRow.quantity).where(CartItemRow.sender_id == sender_id, CartItemRow.sku == sku)
                )
                if current is None:
                    lines = conn.scalar(select(func.count()).where(CartItemRow.sender_id == sender_id)) or 0
                    if lines >= MAX_CART_LINES:
                        raise InvalidRequest(f"a basket holds at most {MAX_CART_LINES} different products")
                    conn.execute(
                        insert(CartItemRow).values(
                            sender_id=sender_id, sku=sku, quantity=quantity, added_at=self._clock()
                        )
                    )
                else:
                    total = _quantity(min(current + quantity, MAX_LINE_QUANTITY))
                    conn.execute(
                        update(CartItemRow)
                        .where(CartItemRow.sender_id == sender_id, CartItemRow.sku == sku)
                        .values(quantity=total)
                    )
                return self._cart(conn, sender_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"changing the basket failed: {exc}") from exc

    def remove_from_cart(self, sender_id: str, sku: str, quantity: int | None = None) -> Cart:
        """Take units of a product out of the basket (all of them when `quantity` is None)."""
        if quantity is not None:
            quantity = _quantity(quantity)
        try:
            with self._engine.begin() as conn:
                where = (CartItemRow.sender_id == sender_id, CartItemRow.sku == sku)
                current = conn.scalar(select(CartItemRow.quantity).where(*where))
                if current is None:
                    raise InvalidRequest(f"item {sku} is not in your basket")
                if quantity is None or quantity >= current:
                    conn.execute(delete(CartItemRow).where(*where))
                else:
                    conn.execute(update(CartItemRow).where(*where).values(quantity=current - quantity))
                return self._cart(conn, sender_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"changing the basket failed: {exc}") from exc

    def clear_cart(self, sender_id: str) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(CartItemRow).where(CartItemRow.sender_id == sender_id))
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"emptying the basket failed: {exc}") from exc

    def checkout(self, sender_id: str, customer_id: str | None = None) -> Order:
        """Turn the basket into an order and take its units from stock, all in one transaction: either every line
        is filled or nothing changes (`ItemsUnavailable` says which lines are short)."""
        for attempt in range(CHECKOUT_ATTEMPTS):
            last = attempt == CHECKOUT_ATTEMPTS - 1
            try:
                with self._engine.begin() as conn:
                    return self._checkout(conn, sender_id, customer_id)
            except IntegrityError:
                if last:  # another checkout took the same order number every time
                    raise CatalogUnavailable("could not allocate an order number; try again") from None
            except OperationalError as exc:
                # SQLite refuses a second writer ("database is locked") when two transactions that read first try
                # to write at once; the loser rolls back and tries again
                if last or "locked" not in str(exc).lower():
                    raise CatalogUnavailable(f"placing the order failed: {exc}") from exc
                time.sleep(0.05 * (attempt + 1))
            except SQLAlchemyError as exc:
                raise CatalogUnavailable(f"placing the order failed: {exc}") from exc
        raise AssertionError("unreachable")

    def _checkout(self, conn: Connection, sender_id: str, customer_id: str | None) -> Order:
        cart = self._cart(conn, sender_id)
        if not cart.lines:
            raise EmptyCart("your basket is empty")
        short: list[tuple[str, str, int, int]] = []
        for line in cart.lines:
            on_hand = conn.scalar(select(StockLevelRow.on_hand).where(StockLevelRow.sku == line.sku))
            if on_hand is not None and on_hand < line.quantity:
                short.append((line.sku, line.title, line.quantity, on_hand))
        if short:
            raise ItemsUnavailable(short)
        last = conn.scalar(select(func.max(ShopOrderRow.order_no)))
        order_no = str(max(FIRST_SHOP_ORDER, int(last) + 1 if last else 0))
        now = self._clock()
        conn.execute(
            insert(ShopOrderRow).values(
                order_no=order_no,
                sender_id=sender_id,
                customer_id=customer_id,
                status=OrderStatus.PLACED.value,
                total=cart.total,
                delivery_address=None,
                placed_at=now,
                updated_at=now,
            )
        )
        for line in cart.lines:
            conn.execute(
                insert(ShopOrderLineRow).values(
                    order_no=order_no,
                    sku=line.sku,
                    title=line.title,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                )
            )
            try:
                change_stock_in(conn, line.sku, -line.quantity, MovementReason.ORDER, ACTOR, reference=order_no)
            except StockNotTracked:
                pass  # a product without a stock record is made to order: nothing to take
            except InsufficientStock as exc:  # another checkout got there first
                raise ItemsUnavailable([(line.sku, line.title, line.quantity, 0)]) from exc
        conn.execute(delete(CartItemRow).where(CartItemRow.sender_id == sender_id))
        return Order(order_no, OrderStatus.PLACED, now, cart.total, cart.units, placed_here=True)

    # --- orders ---------------------------------------------------------------------------------------------------

    def verify_customer(self, customer_id: str, order_no: str) -> bool:
        """Whether `order_no` is one of the customer's invoices: the check before anything personal is shown."""
        if not CUSTOMER_NO.match(customer_id or "") or not ORDER_NO.match(order_no or ""):
            return False
        try:
            with self._engine.connect() as conn:
                known = conn.scalar(select(CustomerRow.id).where(CustomerRow.id == customer_id))
                owner = conn.scalar(select(OrderRow.customer_id).where(OrderRow.invoice_no == order_no))
                if owner is None:
                    owner = conn.scalar(select(ShopOrderRow.customer_id).where(ShopOrderRow.order_no == order_no))
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"checking the customer failed: {exc}") from exc
        return known is not None and owner == customer_id

    def order(self, order_no: str, sender_id: str, customer_id: str | None = None) -> Order:
        """An order this conversation placed, or one of the verified customer's; else `UnknownOrder`."""
        order_no = (order_no or "").strip().upper()
        if not ORDER_NO.match(order_no):
            raise UnknownOrder(f"“{order_no[:20]}” doesn't look like an order number (they have 6 digits, like 536365)")
        try:
            with self._engine.connect() as conn:
                found = self._shop_order(conn, order_no, sender_id, customer_id)
                if found is None and customer_id:
                    found = self._invoice(conn, order_no, customer_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the order failed: {exc}") from exc
        if found is None:
            hint = "" if customer_id else " If it was placed on your account, tell me your customer number first."
            raise UnknownOrder(f"I can't find order {order_no} for you.{hint}")
        return found

    def latest_order(self, sender_id: str, customer_id: str | None = None) -> Order | None:
        try:
            with self._engine.connect() as conn:
                mine = ShopOrderRow.sender_id == sender_id
                if customer_id:
                    mine = or_(mine, ShopOrderRow.customer_id == customer_id)
                shop_no = conn.scalar(
                    select(ShopOrderRow.order_no).where(mine).order_by(ShopOrderRow.placed_at.desc()).limit(1)
                )
                if shop_no is not None:
                    return self._shop_order(conn, shop_no, sender_id, customer_id)
                if customer_id:
                    invoice = conn.scalar(
                        select(OrderRow.invoice_no)
                        .where(OrderRow.customer_id == customer_id, OrderRow.is_cancellation.is_(False))
                        .order_by(OrderRow.invoiced_at.desc())
                        .limit(1)
                    )
                    if invoice is not None:
                        return self._invoice(conn, invoice, customer_id)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the orders failed: {exc}") from exc
        return None

    def _shop_order(self, conn: Connection, order_no: str, sender_id: str, customer_id: str | None) -> Order | None:
        row = conn.execute(select(ShopOrderRow).where(ShopOrderRow.order_no == order_no)).first()
        if row is None or not (row.sender_id == sender_id or (customer_id and row.customer_id == customer_id)):
            return None
        units = conn.scalar(select(func.sum(ShopOrderLineRow.quantity)).where(ShopOrderLineRow.order_no == order_no))
        return Order(
            order_no,
            OrderStatus(row.status),
            row.placed_at,
            row.total,
            int(units or 0),
            placed_here=True,
            delivery_address=row.delivery_address,
        )

    def _invoice(self, conn: Connection, order_no: str, customer_id: str) -> Order | None:
        row = conn.execute(
            select(OrderRow).where(OrderRow.invoice_no == order_no, OrderRow.customer_id == customer_id)
        ).first()
        if row is None:
            return None
        totals = conn.execute(
            select(
                func.sum(OrderLineRow.quantity),
                func.sum(OrderLineRow.quantity * OrderLineRow.unit_price),
            ).where(OrderLineRow.invoice_no == order_no)
        ).one()
        delivered = None if row.is_cancellation else (row.invoiced_at + timedelta(days=DELIVERY_DAYS)).date()
        if delivered is None:
            status = OrderStatus.CANCELLED
        elif delivered > self._today():
            status, delivered = OrderStatus.DISPATCHED, None
        else:
            status = OrderStatus.DELIVERED
        return Order(
            order_no,
            status,
            row.invoiced_at,
            Decimal(str(totals[1] or 0)).quantize(Decimal("0.01")),
            abs(int(totals[0] or 0)),
            placed_here=False,
            delivered_on=delivered,
        )

    def cancel_order(self, order_no: str, sender_id: str, customer_id: str | None = None) -> Order:
        """Cancel an order that has not been dispatched yet and put its units back in stock."""
        order = self.order(order_no, sender_id, customer_id)
        if not order.placed_here or order.status is not OrderStatus.PLACED:
            raise OrderNotChangeable(self._why_not(order, "cancelled"))
        try:
            with self._engine.begin() as conn:
                changed = conn.execute(
                    update(ShopOrderRow)
                    .where(ShopOrderRow.order_no == order.order_no, ShopOrderRow.status == OrderStatus.PLACED.value)
                    .values(status=OrderStatus.CANCELLED.value, updated_at=self._clock())
                ).rowcount
                if changed != 1:
                    raise OrderNotChangeable(f"order {order.order_no} has just changed; ask me about it again")
                lines = conn.execute(
                    select(ShopOrderLineRow.sku, ShopOrderLineRow.quantity).where(
                        ShopOrderLineRow.order_no == order.order_no
                    )
                ).all()
                for sku, quantity in lines:
                    with contextlib.suppress(StockNotTracked):
                        change_stock_in(conn, sku, quantity, MovementReason.RETURN, ACTOR, reference=order.order_no)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"cancelling the order failed: {exc}") from exc
        return self.order(order.order_no, sender_id, customer_id)

    def change_address(self, order_no: str, sender_id: str, customer_id: str | None, address: str) -> Order:
        address = _bounded_text("address", address, low=8)
        order = self.order(order_no, sender_id, customer_id)
        if not order.placed_here or order.status is not OrderStatus.PLACED:
            raise OrderNotChangeable(self._why_not(order, "sent to a new address"))
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    update(ShopOrderRow)
                    .where(ShopOrderRow.order_no == order.order_no)
                    .values(delivery_address=address, updated_at=self._clock())
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"changing the address failed: {exc}") from exc
        return self.order(order.order_no, sender_id, customer_id)

    def request_return(
        self, order_no: str, sender_id: str, customer_id: str | None, reason: str, today: date
    ) -> ReturnRequest:
        """Record a return/refund request for staff. Only delivered orders within RETURN_DAYS of delivery (an order
        not yet dispatched is cancelled instead)."""
        reason = _bounded_text("reason", reason)
        order = self.order(order_no, sender_id, customer_id)
        check_returnable(order, today)
        try:
            with self._engine.begin() as conn:
                new_id = conn.scalar(
                    insert(ReturnRequestRow)
                    .values(
                        order_no=order.order_no,
                        sender_id=sender_id,
                        customer_id=customer_id,
                        reason=reason,
                        status="requested",
                        created_at=self._clock(),
                    )
                    .returning(ReturnRequestRow.id)
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"recording the return failed: {exc}") from exc
        return ReturnRequest(int(new_id or 0), order.order_no, reason)

    @staticmethod
    def _why_not(order: Order, change: str) -> str:
        if order.status is OrderStatus.CANCELLED:
            return f"order {order.order_no} is already cancelled"
        if order.delivered_on is not None:
            return f"order {order.order_no} was delivered on {order.delivered_on:%d %b %Y}, so it can't be {change}"
        return f"order {order.order_no} has been {order.status.value} already, so it can't be {change}"

    # --- privacy --------------------------------------------------------------------------------------------------

    def erase_conversation_data(self, sender_id: str) -> dict[str, int]:
        """Delete what the shop holds for this conversation that the shopper can take back: the basket and back-in-
        stock alerts. Orders and return requests stay (the shop must keep sales records). Returns rows per table."""
        try:
            with self._engine.begin() as conn:
                cart = conn.execute(delete(CartItemRow).where(CartItemRow.sender_id == sender_id)).rowcount
                alerts = conn.execute(
                    delete(StockSubscriptionRow).where(StockSubscriptionRow.sender_id == sender_id)
                ).rowcount
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"erasing the conversation's data failed: {exc}") from exc
        return {"cart_items": int(cart or 0), "stock_subscriptions": int(alerts or 0)}

    def request_erasure(self, sender_id: str, source: str = "shopper") -> bool:
        """Queue the conversation's transcript for erasure (the staff console's background task erases it a few
        seconds later, after the current turn is stored). False when a request is already pending."""
        try:
            with self._engine.begin() as conn:
                pending = conn.scalar(
                    select(ErasureRequestRow.id)
                    .where(ErasureRequestRow.sender_id == sender_id, ErasureRequestRow.done_at.is_(None))
                    .limit(1)
                )
                if pending is not None:
                    return False
                conn.execute(
                    insert(ErasureRequestRow).values(
                        sender_id=sender_id, source=_bounded_text("source", source)[:20], requested_at=self._clock()
                    )
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"queueing the erasure failed: {exc}") from exc
        return True

    # --- handoff --------------------------------------------------------------------------------------------------

    def request_handoff(self, sender_id: str, channel: str, reason: HandoffReason) -> Handoff:
        """Mark the conversation for staff (once: a conversation already waiting or taken is not queued again)."""
        try:
            with self._engine.begin() as conn:
                open_row = conn.execute(
                    select(HandoffRow)
                    .where(HandoffRow.sender_id == sender_id, HandoffRow.status.in_(("waiting", "taken")))
                    .order_by(HandoffRow.id.desc())
                    .limit(1)
                ).first()
                if open_row is not None:
                    return Handoff(
                        open_row.id, open_row.status, HandoffReason(open_row.reason), open_row.requested_at, True
                    )
                now = self._clock()
                new_id = conn.scalar(
                    insert(HandoffRow)
                    .values(
                        sender_id=sender_id,
                        channel=(channel or "unknown")[:50],
                        reason=HandoffReason(reason).value,
                        status="waiting",
                        requested_at=now,
                    )
                    .returning(HandoffRow.id)
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"asking for a person failed: {exc}") from exc
        return Handoff(int(new_id or 0), "waiting", HandoffReason(reason), now, False)

    def handoff_status(self, sender_id: str) -> str | None:
        """'waiting' or 'taken' while staff hold the conversation, else None."""
        try:
            with self._engine.connect() as conn:
                return conn.scalar(
                    select(HandoffRow.status)
                    .where(HandoffRow.sender_id == sender_id, HandoffRow.status.in_(("waiting", "taken")))
                    .limit(1)
                )
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading the handoff failed: {exc}") from exc


def check_returnable(order: Order, today: date) -> None:
    """Raise `OrderNotChangeable` (saying why) unless the order can be returned on `today`."""
    if order.status is OrderStatus.CANCELLED:
        raise OrderNotChangeable(f"order {order.order_no} was cancelled, so there is nothing to return")
    if order.status is OrderStatus.PLACED:
        raise OrderNotChangeable(
            f"order {order.order_no} hasn't been sent yet: you can simply cancel it instead (say “cancel order "
            f"{order.order_no}”)"
        )
    if order.status is OrderStatus.DISPATCHED:
        raise OrderNotChangeable(
            f"order {order.order_no} is on its way to you; once it has arrived you can return it within {RETURN_DAYS} "
            "days"
        )
    if order.delivered_on is not None and (today - order.delivered_on).days > RETURN_DAYS:
        raise OrderNotChangeable(
            f"order {order.order_no} was delivered on {order.delivered_on:%d %b %Y}, more than {RETURN_DAYS} days "
            "ago, so it's outside our returns window"
        )
