"""SQLAlchemy 2 models of the catalog database. The schema itself is created by Alembic (`catalog/migrations`)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
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
