"""The recommender's stock filter reads stock once per interval, not once per candidate product."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event

from actions import services
from catalog.repository import SqlProductRepository


def test_availability_reads_stock_once_per_interval(shop_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "engine", lambda: shop_engine)
    monkeypatch.setattr(services, "products", lambda: SqlProductRepository(shop_engine))
    queries: list[str] = []
    event.listen(shop_engine, "before_cursor_execute", lambda *args: queries.append(str(args[2])))
    heart, bag = (SqlProductRepository(shop_engine).get_by_sku(s) for s in ("85123A", "20725"))
    assert heart is not None and bag is not None
    available = services.Availability(ttl_s=3600)
    queries.clear()
    assert available(heart.id) and not available(bag.id)  # 10 hearts on hand, no bags
    first = len(queries)
    assert [available(heart.id) for _ in range(50)] == [True] * 50
    assert len(queries) == first  # cached
    assert not services.Availability(ttl_s=3600)(999_999)
