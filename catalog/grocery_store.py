"""A second store with product photos: the Grocery Store Dataset (Klasson, Zhang & Kjellström, WACV 2019; MIT).

Its folder (`GROCERY_DATA_DIR`, default `../shared/datasets/grocery_store/`) holds `classes.csv` (one row per
product: name, id, coarse class, iconic image and description paths), the iconic images and descriptions, and the
shoppers' shelf photos listed in `train.txt` / `val.txt` (`path, fine id, coarse id`).

Imported into its own catalog database (the store's DATABASE_URL) with the reference store's machinery: the same
migrations and tables, the same fingerprinted, all-or-nothing replace (`catalog.ingest`). Mapping:

- product id = class id + 1 (deterministic), SKU = `GS` + the class id in three digits ('GS000' Golden Delicious);
- title = the class name in words, with the coarse class when the name lacks it ('Golden Delicious apple',
  'Arla Standard Milk');
- the store publishes no prices: `unit_price` is 0, which the assistant shows as "price on request" (the reference
  store's import drops every non-positive price, so 0 never means a real price there);
- no sales history: `first_sold`/`last_sold` are the day of the import (the columns are NOT NULL; see the report);
  no orders, customers or daily sales.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.bulk import replace_tables
from catalog.db import require_built
from catalog.errors import CatalogUnavailable, DataNotFound
from catalog.models import Base, ImportRunRow

SOURCE = "grocery_store"
INGEST_VERSION = "1"
CLASSES_FILE = "classes.csv"
SKU_PREFIX = "GS"
PRICE_ON_REQUEST = 0
"""`unit_price` of a product whose price the store does not publish."""


@dataclass(frozen=True)
class GroceryProduct:
    class_id: int
    name: str
    """The dataset's class name, e.g. 'Golden-Delicious'."""
    coarse_id: int
    coarse_name: str
    iconic_image: Path
    description: str

    @property
    def product_id(self) -> int:
        return self.class_id + 1

    @property
    def sku(self) -> str:
        return f"{SKU_PREFIX}{self.class_id:03d}"

    @property
    def title(self) -> str:
        words = self.name.replace("-", " ")
        coarse = self.coarse_name.replace("-", " ")
        return words if coarse.lower() in words.lower() else f"{words} {coarse.lower()}"


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    class_id: int
    coarse_id: int


def data_help(data_dir: Path) -> str:
    return (
        f"the Grocery Store Dataset was not found in {data_dir} (expected {CLASSES_FILE}); set GROCERY_DATA_DIR to "
        "its folder (original: https://github.com/marcusklasson/GroceryStoreDataset)"
    )


def read_products(data_dir: Path) -> list[GroceryProduct]:
    """The store's products from `classes.csv`, by class id. Raises `DataNotFound` with where to get the data."""
    path = data_dir / CLASSES_FILE
    if not path.is_file():
        raise DataNotFound(data_help(data_dir))
    products: list[GroceryProduct] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0].startswith("Class Name"):
                continue
            name, class_id, coarse_name, coarse_id, image, description = (cell.strip() for cell in row[:6])
            description_path = data_dir / description.lstrip("/")
            products.append(
                GroceryProduct(
                    class_id=int(class_id),
                    name=name,
                    coarse_id=int(coarse_id),
                    coarse_name=coarse_name,
                    iconic_image=data_dir / image.lstrip("/"),
                    description=" ".join(description_path.read_text(encoding="utf-8").split())
                    if description_path.is_file()
                    else "",
                )
            )
    return sorted(products, key=lambda p: p.class_id)


def read_split(data_dir: Path, split: str) -> list[LabelledPhoto]:
    """The labelled shelf photos of `split` ('train' or 'val'), in file order."""
    path = data_dir / f"{split}.txt"
    if not path.is_file():
        raise DataNotFound(f"{path} not found; " + data_help(data_dir))
    photos: list[LabelledPhoto] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            file, fine, coarse = (cell.strip() for cell in line.split(","))
            photos.append(LabelledPhoto(data_dir / file, int(fine), int(coarse)))
    return photos


def products_frame(products: list[GroceryProduct], today: date) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [p.product_id for p in products],
            "stock_code": [p.sku for p in products],
            "title": [p.title for p in products],
            "unit_price": [PRICE_ON_REQUEST] * len(products),
            "first_sold": [today] * len(products),
            "last_sold": [today] * len(products),
        }
    )


def fingerprint(data_dir: Path) -> str:
    digest = hashlib.sha256(f"{SOURCE}:{INGEST_VERSION}".encode())
    digest.update((data_dir / CLASSES_FILE).read_bytes())
    for product in read_products(data_dir):
        digest.update(product.description.encode())
    return digest.hexdigest()


def import_grocery_store(engine: Engine, data_dir: Path, force: bool = False) -> tuple[int, bool]:
    """Import the store's products unless the same files were imported already; returns (products, skipped)."""
    started = time.perf_counter()
    products = read_products(data_dir)
    digest = fingerprint(data_dir)
    require_built(engine)
    try:
        with engine.begin() as conn:
            stored = conn.scalar(select(ImportRunRow.fingerprint).where(ImportRunRow.source == SOURCE))
            if stored == digest and not force:
                return len(products), True
            frame = products_frame(products, datetime.now(timezone.utc).date())
            tables = Base.metadata.tables
            empty = [(tables[name], pd.DataFrame()) for name in ("customers", "orders", "order_lines", "daily_sales")]
            replace_tables(conn, [(tables["products"], frame), *empty])
            report = {"products": len(products), "seconds": round(time.perf_counter() - started, 3)}
            conn.execute(delete(ImportRunRow).where(ImportRunRow.source == SOURCE))
            conn.execute(
                insert(ImportRunRow).values(
                    source=SOURCE,
                    fingerprint=digest,
                    imported_at=datetime.now(timezone.utc).replace(tzinfo=None),
                    report=json.dumps(report),
                )
            )
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"writing the grocery store to {engine.url!r} failed: {exc}") from exc
    return len(products), False
