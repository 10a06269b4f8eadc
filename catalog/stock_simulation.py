"""A SIMULATED inventory for the reference store (UCI Online Retail has real sales but no stock data).

Nothing here is the shop's real stock. From each product's real daily sales it derives a plausible stock state on
the day after the data end (the as-of day), deterministically: the random numbers of a product are seeded by its SKU
(and `SIMULATION_VERSION`), so rebuilding the same catalog gives identical stock, and adding products to the
catalog does not change the others'.

Per product, with r = mean units sold per day over the last 8 weeks (the last 26 weeks when that is zero) and s the
standard deviation of daily units over the last 8 weeks, a continuous-review (reorder point, order quantity) policy
caught at a random point of its cycle:
- discontinued: no sale in the last `DISCONTINUED_AFTER_DAYS` days; 30% keep 1-5 leftover units, no replenishment;
- lead time L: one of 7, 10, 14, 21, 28 days;
- safety stock ss = ceil(1.28·s·√L) (about 90% of lead times covered); reorder point = ceil(r·L) + ss;
- order quantity Q: eight weeks of sales, at least 1, rounded up to a pack of 6 when 6 or more;
- on hand: ss + uniform 0..Q (stock falls from ss + Q after a delivery to about ss when the next one arrives);
  7% are set to 0 instead (a demand spike emptied the shelf);
- at or below the reorder point (so always when out of stock) one replenishment of Q units is on its way, expected
  when the stock would reach the safety stock at rate r (within 1..L days; uniform 1..L when out of stock).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.db import require_built
from catalog.errors import CatalogUnavailable
from catalog.ingest import SOURCE as IMPORT_SOURCE
from catalog.inventory import (
    InvalidStockChange,
    LoadReport,
    Replenishment,
    StockLevel,
    StockSource,
    latest_load,
    load_stock,
)
from catalog.models import DailySalesRow, ImportRunRow, ProductRow

SIMULATION_VERSION = "1"
"""Part of the fingerprint and of every product's seed: bump it when the rules above change."""
DISCONTINUED_AFTER_DAYS = 182
RATE_DAYS = 56
FALLBACK_RATE_DAYS = 182
LEAD_TIMES = (7, 10, 14, 21, 28)
SERVICE_Z = 1.28
COVER_DAYS = 56
PACK = 6
OUT_OF_STOCK_SHARE = 0.07
LEFTOVER_SHARE = 0.3
ACTOR = "simulation"


@dataclass(frozen=True)
class SalesSummary:
    """What the simulation needs of one product's sales."""

    sku: str
    last_sold: date
    rate: float
    """Mean units per day over the last 8 weeks (26 weeks if zero)."""
    sd: float


def product_seed(sku: str) -> int:
    return int.from_bytes(hashlib.sha256(f"stock-sim:{SIMULATION_VERSION}:{sku}".encode()).digest()[:8], "big")


def simulate_product(sales: SalesSummary, as_of: date) -> tuple[StockLevel, Replenishment | None]:
    """The simulated stock of one product on `as_of` (see the module doc)."""
    rng = np.random.default_rng(product_seed(sales.sku))
    lead = int(rng.choice(LEAD_TIMES))
    if (as_of - sales.last_sold).days > DISCONTINUED_AFTER_DAYS:
        leftover = int(rng.integers(1, 6)) if rng.random() < LEFTOVER_SHARE else 0
        return StockLevel(sales.sku, leftover, 0, lead, discontinued=True), None
    safety = math.ceil(SERVICE_Z * sales.sd * math.sqrt(lead))
    reorder_point = math.ceil(sales.rate * lead) + safety
    quantity = max(1, math.ceil(sales.rate * COVER_DAYS))
    if quantity >= PACK:
        quantity = math.ceil(quantity / PACK) * PACK
    out_of_stock = rng.random() < OUT_OF_STOCK_SHARE
    on_hand = 0 if out_of_stock else safety + int(rng.integers(0, quantity + 1))
    level = StockLevel(sales.sku, on_hand, reorder_point, lead)
    if on_hand > reorder_point:
        return level, None
    if on_hand == 0 or sales.rate <= 0:
        days = int(rng.integers(1, lead + 1))
    else:
        days = min(lead, max(1, round((on_hand - safety) / sales.rate)))
    return level, Replenishment(sales.sku, quantity, as_of + timedelta(days=days))


def simulate(summaries: list[SalesSummary], as_of: date) -> tuple[list[StockLevel], list[Replenishment]]:
    levels: list[StockLevel] = []
    replenishments: list[Replenishment] = []
    for sales in summaries:
        level, replenishment = simulate_product(sales, as_of)
        levels.append(level)
        if replenishment is not None:
            replenishments.append(replenishment)
    return levels, replenishments


def sales_summaries(engine: Engine) -> tuple[list[SalesSummary], date]:
    """Every catalog product's recent sales, and the as-of day (the day after the last day of sales)."""
    require_built(engine)
    try:
        with engine.connect() as conn:
            last_day = conn.scalar(select(func.max(DailySalesRow.day)))
            if last_day is None:
                raise InvalidStockChange("the catalog has no sales; import the store first (`python -m catalog build`)")
            since = last_day - timedelta(days=FALLBACK_RATE_DAYS - 1)
            products = pd.DataFrame(
                conn.execute(select(ProductRow.id, ProductRow.stock_code, ProductRow.last_sold)).all(),
                columns=["id", "stock_code", "last_sold"],
            )
            sales = pd.DataFrame(
                conn.execute(
                    select(DailySalesRow.product_id, DailySalesRow.day, DailySalesRow.units_sold).where(
                        DailySalesRow.day >= since
                    )
                ).all(),
                columns=["product_id", "day", "units_sold"],
            )
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"reading sales for the stock simulation failed: {exc}") from exc
    days = pd.date_range(since, last_day, freq="D")
    matrix = np.zeros((len(products), len(days)))
    if len(sales):
        row = pd.Index(products["id"]).get_indexer(sales["product_id"])
        col = (pd.to_datetime(sales["day"]) - days[0]).dt.days.to_numpy()
        matrix[row, col] = sales["units_sold"].to_numpy(dtype=float)
    recent = matrix[:, -RATE_DAYS:]
    rate = np.where(recent.mean(axis=1) > 0, recent.mean(axis=1), matrix.mean(axis=1))
    sd = recent.std(axis=1)
    summaries = [
        SalesSummary(str(sku), pd.Timestamp(last).date(), float(r), float(s))
        for sku, last, r, s in zip(products["stock_code"], products["last_sold"], rate, sd, strict=True)
    ]
    return summaries, last_day + timedelta(days=1)


def simulation_fingerprint(engine: Engine) -> str:
    with engine.connect() as conn:
        imported = conn.scalar(select(ImportRunRow.fingerprint).where(ImportRunRow.source == IMPORT_SOURCE))
    return hashlib.sha256(f"stock-sim:{SIMULATION_VERSION}:{imported}".encode()).hexdigest()


def simulate_stock(engine: Engine, force: bool = False) -> LoadReport:
    """Load the simulated stock unless this catalog's simulation is loaded already. Refuses to replace stock loaded
    from the store's files unless `force`."""
    fingerprint = simulation_fingerprint(engine)
    previous = latest_load(engine)
    if previous is not None and not force:
        if previous.source is StockSource.FILES:
            raise InvalidStockChange(
                f"stock was loaded from the store's files (as of {previous.as_of}); "
                "`python -m catalog stock simulate --force` would replace it with simulated stock"
            )
        if previous.fingerprint == fingerprint:
            report = previous.report
            return LoadReport(
                source=StockSource.SIMULATED,
                as_of=previous.as_of,
                skipped=True,
                products=report.get("products", 0),
                units=report.get("units", 0),
                out_of_stock=report.get("out_of_stock", 0),
                discontinued=report.get("discontinued", 0),
                replenishments=report.get("replenishments", 0),
                movements=0,
            )
    summaries, as_of = sales_summaries(engine)
    levels, replenishments = simulate(summaries, as_of)
    return load_stock(
        engine,
        levels,
        replenishments,
        source=StockSource.SIMULATED,
        as_of=as_of,
        actor=ACTOR,
        reference=f"simulation v{SIMULATION_VERSION}",
        fingerprint=fingerprint,
    )
