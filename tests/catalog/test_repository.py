"""The repository hands out catalog errors, never SQLAlchemy's, so callers catch one error tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from catalog.db import make_engine, require_built
from catalog.errors import CatalogNotBuilt, CatalogUnavailable
from catalog.repository import SqlProductRepository


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.get_many([1, 2]),
        lambda r: r.get_by_sku("20725"),
        lambda r: r.count(),
        lambda r: list(r.iter_all()),
    ],
    ids=["get_many", "get_by_sku", "count", "iter_all"],
)
def test_an_unbuilt_database_raises_catalog_unavailable(tmp_path: Path, call: Callable[[Any], object]) -> None:
    repository = SqlProductRepository(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(CatalogUnavailable):
        call(repository)


def test_require_built_names_the_command_that_builds_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogNotBuilt, match="run `make build`"):
        require_built(make_engine(f"sqlite:///{tmp_path / 'empty.db'}"))


def test_get_many_of_nothing_does_not_touch_the_database(tmp_path: Path) -> None:
    assert SqlProductRepository(make_engine(f"sqlite:///{tmp_path / 'empty.db'}")).get_many([]) == {}
