"""The shop's own records: baskets, orders placed through the assistant, return requests and handoffs to staff.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cart_items",
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("sku", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_items_quantity_positive")),
        sa.PrimaryKeyConstraint("sender_id", "sku", name=op.f("pk_cart_items")),
    )
    op.create_table(
        "shop_orders",
        sa.Column("order_no", sa.String(length=20), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("delivery_address", sa.Text(), nullable=True),
        sa.Column("placed_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('placed', 'dispatched', 'delivered', 'cancelled')", name=op.f("ck_shop_orders_status_known")
        ),
        sa.PrimaryKeyConstraint("order_no", name=op.f("pk_shop_orders")),
    )
    op.create_index(op.f("ix_shop_orders_sender_id"), "shop_orders", ["sender_id"])
    op.create_index(op.f("ix_shop_orders_customer_id"), "shop_orders", ["customer_id"])
    op.create_table(
        "shop_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=20), nullable=False),
        sa.Column("sku", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_shop_order_lines_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["order_no"], ["shop_orders.order_no"], name=op.f("fk_shop_order_lines_order_no_shop_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_order_lines")),
    )
    op.create_index(op.f("ix_shop_order_lines_order_no"), "shop_order_lines", ["order_no"])
    op.create_table(
        "return_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_no", sa.String(length=20), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_requests")),
    )
    op.create_index(op.f("ix_return_requests_order_no"), "return_requests", ["order_no"])
    op.create_index(op.f("ix_return_requests_sender_id"), "return_requests", ["sender_id"])
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=255), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("taken_by", sa.String(length=100), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('waiting', 'taken', 'closed')", name=op.f("ck_handoffs_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    op.create_index(op.f("ix_handoffs_sender_id"), "handoffs", ["sender_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_handoffs_sender_id"), table_name="handoffs")
    op.drop_table("handoffs")
    op.drop_index(op.f("ix_return_requests_sender_id"), table_name="return_requests")
    op.drop_index(op.f("ix_return_requests_order_no"), table_name="return_requests")
    op.drop_table("return_requests")
    op.drop_index(op.f("ix_shop_order_lines_order_no"), table_name="shop_order_lines")
    op.drop_table("shop_order_lines")
    op.drop_index(op.f("ix_shop_orders_customer_id"), table_name="shop_orders")
    op.drop_index(op.f("ix_shop_orders_sender_id"), table_name="shop_orders")
    op.drop_table("shop_orders")
    op.drop_table("cart_items")
