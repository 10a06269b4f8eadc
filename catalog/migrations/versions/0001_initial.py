"""Initial catalog schema: products, customers, orders, order lines, daily sales, import runs.

Revision ID: 0001
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("stock_code", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("first_sold", sa.Date(), nullable=False),
        sa.Column("last_sold", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("stock_code", name=op.f("uq_products_stock_code")),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=60), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_table(
        "orders",
        sa.Column("invoice_no", sa.String(length=20), nullable=False),
        sa.Column("customer_id", sa.String(length=20), nullable=True),
        sa.Column("invoiced_at", sa.DateTime(), nullable=False),
        sa.Column("country", sa.String(length=60), nullable=False),
        sa.Column("is_cancellation", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")),
        sa.PrimaryKeyConstraint("invoice_no", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_customer_id"), "orders", ["customer_id"])
    op.create_index(op.f("ix_orders_invoiced_at"), "orders", ["invoiced_at"])
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("invoice_no", sa.String(length=20), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["invoice_no"], ["orders.invoice_no"], name=op.f("fk_order_lines_invoice_no_orders")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_order_lines_product_id_products")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
    )
    op.create_index(op.f("ix_order_lines_invoice_no"), "order_lines", ["invoice_no"])
    op.create_index(op.f("ix_order_lines_product_id"), "order_lines", ["product_id"])
    op.create_table(
        "daily_sales",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("units_sold", sa.Integer(), nullable=False),
        sa.Column("units_returned", sa.Integer(), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_daily_sales_product_id_products")),
        sa.PrimaryKeyConstraint("product_id", "day", name=op.f("pk_daily_sales")),
    )
    op.create_index("ix_daily_sales_day", "daily_sales", ["day"])
    op.create_table(
        "import_runs",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_import_runs")),
    )


def downgrade() -> None:
    op.drop_table("import_runs")
    op.drop_index("ix_daily_sales_day", table_name="daily_sales")
    op.drop_table("daily_sales")
    op.drop_index(op.f("ix_order_lines_product_id"), table_name="order_lines")
    op.drop_index(op.f("ix_order_lines_invoice_no"), table_name="order_lines")
    op.drop_table("order_lines")
    op.drop_index(op.f("ix_orders_invoiced_at"), table_name="orders")
    op.drop_index(op.f("ix_orders_customer_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("customers")
    op.drop_table("products")
