"""The grocery store imported through the catalog's own migrations and tables, from the real dataset folder."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from assistant.settings import load_settings
from catalog.db import make_engine
from catalog.errors import DataNotFound
from catalog.grocery_store import import_grocery_store, read_products, read_split
from catalog.migrate import upgrade
from catalog.repository import SqlProductRepository


@pytest.fixture(scope="module")
def grocery_dir() -> Path:
    folder = load_settings().grocery_data_dir
    if not (folder / "classes.csv").is_file():
        pytest.skip(f"the Grocery Store Dataset is not at {folder} (GROCERY_DATA_DIR)")
    return folder


def test_products_come_from_classes_csv_with_images_and_descriptions(grocery_dir: Path) -> None:
    products = read_products(grocery_dir)
    assert len(products) == 81 and [p.class_id for p in products] == list(range(81))
    granny = products[1]
    assert (granny.sku, granny.title, granny.product_id) == ("GS001", "Granny Smith apple", 2)
    assert granny.iconic_image.is_file() and "green apple" in granny.description
    assert next(p for p in products if p.name == "Arla-Standard-Milk").title == "Arla Standard Milk"
    assert len(read_split(grocery_dir, "train")) == 2640 and len(read_split(grocery_dir, "val")) == 296


def test_a_missing_folder_says_where_to_get_the_data(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match="GROCERY_DATA_DIR"):
        read_products(tmp_path)


def test_the_import_fills_the_store_catalog_once(tmp_path: Path, grocery_dir: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'grocery.db'}")
    upgrade(engine)
    assert import_grocery_store(engine, grocery_dir) == (81, False)
    assert import_grocery_store(engine, grocery_dir) == (81, True)
    assert import_grocery_store(engine, grocery_dir, force=True) == (81, False)
    repository = SqlProductRepository(engine)
    assert repository.count() == 81
    apple = repository.get_by_sku("GS001")
    assert apple is not None and apple.title == "Granny Smith apple" and apple.price == Decimal("0")


def test_each_store_has_its_own_state_and_database(tmp_path: Path) -> None:
    grocery = load_settings({"STATE_DIR": str(tmp_path), "SHOP_STORE": "grocery_store"})
    assert grocery.store_dir == tmp_path / "stores" / "grocery_store"
    assert grocery.database_url == f"sqlite:///{tmp_path / 'stores' / 'grocery_store' / 'catalog.db'}"
    assert grocery.index_dir == grocery.store_dir / "index" and grocery.vision_dir == grocery.store_dir / "vision"
    reference = load_settings({"STATE_DIR": str(tmp_path)})
    assert reference.store_dir == tmp_path and reference.database_url == f"sqlite:///{tmp_path / 'catalog.db'}"
