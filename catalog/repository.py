"""Read access to products for other packages: returns `catalog.types.Product` values, never ORM rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, Select, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from catalog.errors import CatalogUnavailable
from catalog.models import ProductAttributesRow, ProductRow
from catalog.types import Product


def _split(values: str) -> tuple[str, ...]:
    return tuple(v for v in values.split(",") if v)


def _to_product(row: ProductRow, attributes: ProductAttributesRow | None = None) -> Product:
    if attributes is None:
        return Product(id=row.id, sku=row.stock_code, title=row.title, price=row.unit_price)
    return Product(
        id=row.id,
        sku=row.stock_code,
        title=row.title,
        price=row.unit_price,
        category=attributes.category,
        subcategory=attributes.subcategory,
        colours=_split(attributes.colours),
        patterns=_split(attributes.patterns),
        materials=_split(attributes.materials),
    )


def _with_attributes() -> Select[ProductRow, ProductAttributesRow]:
    """Products with their derived attributes (None where not derived yet)."""
    return select(ProductRow, ProductAttributesRow).outerjoin(
        ProductAttributesRow, ProductAttributesRow.sku == ProductRow.stock_code
    )


class SqlProductRepository:
    """Products from the catalog database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        """Products by id; ids that do not exist are simply absent from the result."""
        if not ids:
            return {}
        try:
            with Session(self._engine) as session:
                rows = session.execute(_with_attributes().where(ProductRow.id.in_(list(ids))))
                return {row.id: _to_product(row, attributes) for row, attributes in rows}
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading products failed: {exc}") from exc

    def get_by_sku(self, sku: str) -> Product | None:
        try:
            with Session(self._engine) as session:
                found = session.execute(_with_attributes().where(ProductRow.stock_code == sku)).first()
                return _to_product(found[0], found[1]) if found else None
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading product {sku!r} failed: {exc}") from exc

    def count(self) -> int:
        try:
            with Session(self._engine) as session:
                return int(session.scalar(select(func.count()).select_from(ProductRow)) or 0)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"counting products failed: {exc}") from exc

    def iter_all(self, batch_size: int = 1000) -> Iterator[Product]:
        """Every product in id order (for building indexes)."""
        try:
            with Session(self._engine) as session:
                rows = _with_attributes().order_by(ProductRow.id).execution_options(yield_per=batch_size)
                for row, attributes in session.execute(rows):
                    yield _to_product(row, attributes)
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading products failed: {exc}") from exc
