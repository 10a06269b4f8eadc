"""Product attributes derived from titles: category, subcategory, colours, patterns, materials.

Keyed by SKU without a foreign key, like stock (the catalog import replaces every product row; see 0002).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_attributes",
        sa.Column("sku", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("subcategory", sa.String(length=60), nullable=False),
        sa.Column("colours", sa.String(length=200), nullable=False),
        sa.Column("patterns", sa.String(length=200), nullable=False),
        sa.Column("materials", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_product_attributes")),
    )
    op.create_index(op.f("ix_product_attributes_category"), "product_attributes", ["category"])


def downgrade() -> None:
    op.drop_index(op.f("ix_product_attributes_category"), table_name="product_attributes")
    op.drop_table("product_attributes")
