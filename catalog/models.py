"""SQLAlchemy 2 models of the catalog database. The schema itself is created by Alembic (`catalog/migrations`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

Money = Numeric(10, 2)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Named constraints: SQLite cannot alter a table in place, so later migrations (Alembic batch mode) drop and
recreate constraints by name; without names they would differ between SQLite and PostgreSQL."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProductRow(Base):
    """A sellable product. `id` is assigned in StockCode order, so re-importing the same data gives the same ids."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stock_code: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    first_sold: Mapped[date] = mapped_column(Date)
    last_sold: Mapped[date] = mapped_column(Date)


class CustomerRow(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    """The store's CustomerID, as text ('12346')."""
    country: Mapped[str] = mapped_column(String(60))


class OrderRow(Base):
    """An invoice. Cancellations (invoice numbers starting with 'C') are orders of their own with negative lines."""

    __tablename__ = "orders"

    invoice_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"), index=True)
    """None for a guest checkout."""
    invoiced_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    country: Mapped[str] = mapped_column(String(60))
    is_cancellation: Mapped[bool] = mapped_column(Boolean)


class OrderLineRow(Base):
    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    invoice_no: Mapped[str] = mapped_column(ForeignKey("orders.invoice_no"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    """Positive for a purchase, negative for a cancellation or return."""
    unit_price: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(Text)
    """The line's description as invoiced (descriptions of one product vary over time)."""


class DailySalesRow(Base):
    __tablename__ = "daily_sales"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    units_sold: Mapped[int] = mapped_column(Integer)
    units_returned: Mapped[int] = mapped_column(Integer)
    """Units on cancellation invoices that day (a positive number)."""
    revenue: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    orders: Mapped[int] = mapped_column(Integer)


class ImportRunRow(Base):
    """One row per source that was imported, with the fingerprint of its files (re-import is skipped when equal)."""

    __tablename__ = "import_runs"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(DateTime)
    report: Mapped[str] = mapped_column(Text)
    """The ingestion report as JSON: rows read, kept and dropped per reason."""


Index("ix_daily_sales_day", DailySalesRow.day)


# --- inventory and forecasts (migration 0002) -----------------------------------------------------------------------
# Stock is keyed by the store's SKU (`products.stock_code`), without a foreign key to `products`: the catalog import
# replaces every product row (DELETE or TRUNCATE) and assigns ids by position, so a key on `products.id` would block
# a re-import and could point at another product after one. Stock is the store's own record and outlives imports;
# `catalog.inventory` checks SKUs against the catalog when stock is loaded.


class StockLevelRow(Base):
    """Current stock of one product, changed only through `catalog.inventory` (which writes the ledger)."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
        CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),
    )

    sku: Mapped[str] = mapped_column(String(20), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    reorder_point: Mapped[int] = mapped_column(Integer)
    """Units at or below which the product counts as low and is reordered."""
    lead_time_days: Mapped[int] = mapped_column(Integer)
    """Days from ordering a replenishment to its arrival."""
    discontinued: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ReplenishmentRow(Base):
    """An incoming delivery: expected until received (stock goes up) or cancelled."""

    __tablename__ = "replenishments"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("status IN ('expected', 'received', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(20), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    expected_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    """A `catalog.inventory.ReplenishmentStatus` value."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When it was received or cancelled."""


class StockMovementRow(Base):
    """The stock ledger: one row per change of `stock_levels.on_hand`, written in the same transaction.
    Per SKU the deltas add up to the current on-hand quantity."""

    __tablename__ = "stock_movements"
    __table_args__ = (CheckConstraint("delta <> 0", name="delta_not_zero"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(20), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))
    """A `catalog.inventory.MovementReason` value."""
    actor: Mapped[str] = mapped_column(String(100))
    """Who: a staff member, 'assistant', 'simulation' or 'file load'."""
    at: Mapped[datetime] = mapped_column(DateTime)
    reference: Mapped[str | None] = mapped_column(String(100))
    """What caused it: an order number, a replenishment id, a file."""
    note: Mapped[str | None] = mapped_column(Text)


class StockSubscriptionRow(Base):
    """A shopper's "tell me when it's back": pending until `notified_at` is set."""

    __tablename__ = "stock_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(50))
    """The Rasa input channel the shopper used ('rest', 'socketio', ...), where the message goes."""
    sku: Mapped[str] = mapped_column(String(20), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    notified_at: Mapped[datetime | None] = mapped_column(DateTime)


class StockLoadRow(Base):
    """One row per load of the whole stock state (simulated or from the store's files); the latest one counts."""

    __tablename__ = "stock_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    """A `catalog.inventory.StockSource` value: 'simulated' or 'files'."""
    fingerprint: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[date] = mapped_column(Date)
    """The day the loaded quantities are valid on (before that day's sales)."""
    loaded_at: Mapped[datetime] = mapped_column(DateTime)
    report: Mapped[str] = mapped_column(Text)
    """JSON: products, units, out of stock, discontinued, replenishments."""


class DemandForecastRow(Base):
    """Forecast daily demand of one product, written by `python -m catalog forecast`."""

    __tablename__ = "demand_forecasts"

    sku: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mean: Mapped[float] = mapped_column(Float)
    lo80: Mapped[float] = mapped_column(Float)
    hi80: Mapped[float] = mapped_column(Float)
    dispersion: Mapped[float | None] = mapped_column(Float)
    """Negative-binomial size of the day's demand (None: Poisson); see `catalog.forecast`."""
    model: Mapped[str] = mapped_column(String(40))
    made_at: Mapped[datetime] = mapped_column(DateTime)


class ForecastRunRow(Base):
    """The last forecast run; the next one is skipped while its fingerprint (import + code + model) is equal."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(40))
    first_day: Mapped[date] = mapped_column(Date)
    horizon_days: Mapped[int] = mapped_column(Integer)
    products: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float] = mapped_column(Float)
    made_at: Mapped[datetime] = mapped_column(DateTime)


# --- the shop's own records: baskets, orders placed through the assistant, returns, handoffs (migration 0004) --------
# Keyed by SKU and by the conversation's sender id, without foreign keys to `products` (re-imports replace products,
# see above). A conversation can only ever reach its own basket: the sender id comes from Rasa's tracker, never from
# what a shopper types.


class CartItemRow(Base):
    """One line of a conversation's basket."""

    __tablename__ = "cart_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sku: Mapped[str] = mapped_column(String(20), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime)


class ShopOrderRow(Base):
    """An order placed through the assistant. Numbers continue after the reference store's invoices (600001...)."""

    __tablename__ = "shop_orders"
    __table_args__ = (
        CheckConstraint("status IN ('placed', 'dispatched', 'delivered', 'cancelled')", name="status_known"),
    )

    order_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(20), index=True)
    """Set when the shopper identified as a customer before checking out."""
    status: Mapped[str] = mapped_column(String(20))
    """A `catalog.shop.OrderStatus` value."""
    total: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    delivery_address: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ShopOrderLineRow(Base):
    __tablename__ = "shop_order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(ForeignKey("shop_orders.order_no"), index=True)
    sku: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money)


class ReturnRequestRow(Base):
    """A return or refund a shopper asked for in the chat, for staff to process."""

    __tablename__ = "return_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(20), index=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    """'requested' until staff process it."""
    created_at: Mapped[datetime] = mapped_column(DateTime)


class HandoffRow(Base):
    """A conversation marked for staff: waiting until an agent takes it, closed when handed back to the assistant."""

    __tablename__ = "handoffs"
    __table_args__ = (CheckConstraint("status IN ('waiting', 'taken', 'closed')", name="status_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(40))
    """A `catalog.shop.HandoffReason` value: asked, complaint, negative_sentiment."""
    status: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    taken_by: Mapped[str | None] = mapped_column(String(100))
    taken_at: Mapped[datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)


# --- product attributes (migration 0003) ----------------------------------------------------------------------------
# Derived from titles by `catalog.attributes`; keyed by SKU without a foreign key, for the same reason as stock.


class ProductAttributesRow(Base):
    """Category, subcategory, colours, patterns and materials of one product (lists stored comma-separated)."""

    __tablename__ = "product_attributes"

    sku: Mapped[str] = mapped_column(String(20), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    """A `catalog.attributes.Category` value."""
    subcategory: Mapped[str] = mapped_column(String(60))
    colours: Mapped[str] = mapped_column(String(200))
    patterns: Mapped[str] = mapped_column(String(200))
    materials: Mapped[str] = mapped_column(String(200))


# --- the staff console (migration 0005) -----------------------------------------------------------------------------
# Accounts, sessions, the console's index of Rasa's tracker store, annotations and the audit log. Transcripts stay in
# Rasa's tracker store (its own database); `conversations` is a derived index of it, rebuilt incrementally by
# `assistant.console.index`, keyed by the tracker's sender id without a foreign key (erasure deletes both sides).


class StaffAccountRow(Base):
    """A person who logs in to the staff console. Accounts are disabled, never deleted: the audit log names them."""

    __tablename__ = "staff_accounts"
    __table_args__ = (CheckConstraint("role IN ('agent', 'admin')", name="role_known"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    """Lower case, letters, digits and `._-` (checked by `assistant.console.accounts`)."""
    display_name: Mapped[str] = mapped_column(String(64))
    """What shoppers see when this person replies ("Sam from the shop")."""
    password_hash: Mapped[str] = mapped_column(String(255))
    """An Argon2id hash in PHC format (salt and parameters inside); never the password."""
    role: Mapped[str] = mapped_column(String(10))
    """An `assistant.console.accounts.Role` value."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class StaffSessionRow(Base):
    """A logged-in browser. Only the SHA-256 of the cookie's random token is stored, so a copy of the database cannot
    be used to log in."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class ConversationRow(Base):
    """One conversation of the tracker store, summarised for the console's list, filters and text search.

    Derived data: `assistant.console.index.ConversationIndex.sync` recomputes a row from all of the sender's events
    whenever new events arrive. Text search runs on `search_text` (the shopper's messages) through an FTS5 table on
    SQLite and a GIN `to_tsvector` index on PostgreSQL, both made by migration 0005 outside these models."""

    __tablename__ = "conversations"

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    channel: Mapped[str] = mapped_column(String(50), index=True)
    """The input channel of the latest shopper message ('rest', 'telegram', ...)."""
    customer_id: Mapped[str | None] = mapped_column(String(20), index=True)
    """The latest `customer_id` slot value (the shopper identified as a customer of the store)."""
    started_at: Mapped[datetime] = mapped_column(DateTime)
    last_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user_turns: Mapped[int] = mapped_column(Integer)
    negative_turns: Mapped[int] = mapped_column(Integer)
    sentiment_sum: Mapped[float] = mapped_column(Float)
    """Sum over shopper messages of P(positive) - P(negative), each in [-1, 1]; the mean is this / user_turns."""
    fallbacks: Mapped[int] = mapped_column(Integer)
    handoff: Mapped[bool] = mapped_column(Boolean)
    """The shopper asked for a person, or staff took the conversation over."""
    zero_result_searches: Mapped[int] = mapped_column(Integer)
    last_event_id: Mapped[int] = mapped_column(Integer)
    search_text: Mapped[str] = mapped_column(Text)


Index(
    "ix_conversations_filters",
    ConversationRow.user_turns,
    ConversationRow.handoff,
    ConversationRow.fallbacks,
    ConversationRow.negative_turns,
    ConversationRow.sentiment_sum,
)
"""Covers the console list's count under its filters (listed, handoff, fallback, sentiment): at 100k conversations an
unfiltered count reads this index (about 1 ms) instead of every row (about 20 ms; `bench/console_queries.py`)."""


class ConversationTagRow(Base):
    __tablename__ = "conversation_tags"

    sender_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    """Id of the staff account that added it (`staff_accounts.id`; accounts are never deleted)."""
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ConversationNoteRow(Base):
    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    account_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class IntentCorrectionRow(Base):
    """A staff correction, "this message meant intent X", exported as NLU training data by `console.annotations`."""

    __tablename__ = "intent_corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    event_id: Mapped[int] = mapped_column(Integer)
    """The tracker event of the corrected message."""
    text: Mapped[str] = mapped_column(Text)
    predicted_intent: Mapped[str | None] = mapped_column(String(100))
    correct_intent: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class AuditLogRow(Base):
    """Who did what to which conversation or account. Details are JSON without message text or passwords."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str | None] = mapped_column(String(64))
    """A staff username, or None / a process name ('retention') for the system."""
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(String(255), index=True)
    """A sender id, a customer id, a username, or 'erased:<erasure id>' after an erasure."""
    details: Mapped[str] = mapped_column(Text)


class ErasureRequestRow(Base):
    """A shopper's "delete my data": the transcript is erased by the console's background task, then `done_at` set."""

    __tablename__ = "erasure_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender_id: Mapped[str] = mapped_column(String(255), index=True)
    source: Mapped[str] = mapped_column(String(20))
    """Where the request came from: 'shopper' (the chat), 'staff', 'retention'."""
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    done_at: Mapped[datetime | None] = mapped_column(DateTime)


class ConsoleSyncStateRow(Base):
    """Named integers of the console's background work, e.g. the last tracker event id already indexed."""

    __tablename__ = "console_sync_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


CONSOLE_SEARCH_OBJECTS = frozenset(
    {
        "conversations_fts",
        "conversations_fts_data",
        "conversations_fts_idx",
        "conversations_fts_docsize",
        "conversations_fts_config",
        "ix_conversations_search",
    }
)
"""Full-text search objects migration 0005 makes outside the models (SQLite FTS5 table and its shadow tables, the
PostgreSQL GIN index): schema comparisons (`include_name`) leave them out."""


def include_name(name: str | None, type_: str, _parent_names: object = None) -> bool:
    """Alembic `include_name` hook: compare everything but `CONSOLE_SEARCH_OBJECTS`."""
    return name not in CONSOLE_SEARCH_OBJECTS
