"""Recsys fixtures: a tiny hand-made store (exact checks) and a small synthetic one (models learn something)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert

from catalog.db import make_engine
from catalog.models import Base, CustomerRow, ImportRunRow, OrderLineRow, OrderRow, ProductRow
from recsys.interactions import Interactions, PurchaseLog

START = datetime(2011, 1, 3, 10, 0)
GROUP_A = list(range(1, 31))
"""Products customers of group A buy (ids 1-30); group B buys 31-60; 61-65 sell to everyone."""
GROUP_B = list(range(31, 61))
EVERYONE = list(range(61, 66))
NEVER_SOLD = 66
TITLES = {p: f"PRODUCT {p:02d}" for p in range(1, NEVER_SOLD + 1)}


Record = tuple[str, str | None, int, int, datetime]


def synthetic_records(seed: int = 0, customers: int = 30, weeks: int = 40) -> list[Record]:
    """Customers of two tastes ordering roughly fortnightly: a few favourites again and again, plus some of their
    group and of the best sellers; guest checkouts; a few cancellations."""
    rng = random.Random(seed)
    records: list[Record] = []
    invoice = 500000
    for number in range(customers):
        customer = str(12000 + number)
        group = GROUP_A if number % 2 == 0 else GROUP_B
        favourites = rng.sample(group, 3)
        for week in range(weeks):
            if rng.random() > 0.5:
                continue
            invoice += 1
            at = START + timedelta(weeks=week, days=rng.randrange(5), hours=rng.randrange(8))
            basket = set(rng.sample(favourites, 2)) | {rng.choice(group), rng.choice(EVERYONE)}
            for product in sorted(basket):
                records.append((str(invoice), customer, product, rng.randrange(1, 13), at))
            if rng.random() < 0.05:
                product = sorted(basket)[0]
                records.append((f"C{invoice}", customer, product, -1, at + timedelta(days=1)))
    for week in range(weeks):
        invoice += 1
        at = START + timedelta(weeks=week, days=2)
        for product in rng.sample(GROUP_A + EVERYONE, 3):
            records.append((str(invoice), None, product, 2, at))
    return sorted(records, key=lambda r: r[4])


@pytest.fixture(scope="session")
def synthetic_log() -> PurchaseLog:
    return PurchaseLog.from_records(synthetic_records(), TITLES)


@pytest.fixture(scope="session")
def synthetic(synthetic_log: PurchaseLog) -> Interactions:
    return Interactions.from_log(synthetic_log)


def write_catalog(engine: Engine, records: list[Record], titles: dict[int, str], fingerprint: str = "fp-1") -> None:
    """A catalog database holding `records` as orders, and one import run with `fingerprint`."""
    Base.metadata.create_all(engine)
    orders: dict[str, tuple[str | None, datetime]] = {}
    for invoice, customer, _, _, at in records:
        orders.setdefault(invoice, (customer, at))
    sold = {r[2] for r in records}
    with engine.begin() as connection:
        connection.execute(
            insert(ProductRow),
            [
                {"id": p, "stock_code": f"SKU{p}", "title": t, "unit_price": 1, "first_sold": START, "last_sold": START}
                for p, t in titles.items()
                if p in sold or p == NEVER_SOLD
            ],
        )
        customers = sorted({c for c, _ in orders.values() if c is not None})
        connection.execute(insert(CustomerRow), [{"id": c, "country": "UK"} for c in customers])
        connection.execute(
            insert(OrderRow),
            [
                {"invoice_no": i, "customer_id": c, "invoiced_at": at, "country": "UK", "is_cancellation": i[0] == "C"}
                for i, (c, at) in orders.items()
            ],
        )
        connection.execute(
            insert(OrderLineRow),
            [
                {"id": n, "invoice_no": i, "product_id": p, "quantity": q, "unit_price": 1, "description": titles[p]}
                for n, (i, _, p, q, _) in enumerate(records, start=1)
            ],
        )
    set_import_fingerprint(engine, fingerprint)


def set_import_fingerprint(engine: Engine, fingerprint: str) -> None:
    with engine.begin() as connection:
        connection.execute(delete(ImportRunRow))
        connection.execute(
            insert(ImportRunRow),
            [{"source": "online_retail", "fingerprint": fingerprint, "imported_at": START, "report": "{}"}],
        )


@pytest.fixture
def small_serving_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train the artifact's models with small factor counts: these tests are about building, not quality."""
    from recsys import artifact
    from recsys.recommenders.rerank import SignalSettings

    monkeypatch.setattr(artifact, "SERVING_SIGNALS", SignalSettings(als_factors=8, als_iterations=5))


@pytest.fixture
def catalog_engine(tmp_path: Path, small_serving_models: None) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    write_catalog(engine, synthetic_records(), TITLES)
    yield engine
    engine.dispose()
