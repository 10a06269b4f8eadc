"""Stock status of a product: stock on hand and incoming, combined with its demand forecast.

`StockService.status(sku)` answers "is it in stock, how many, when will it sell out, when is it back" as one frozen
`StockStatus`; `describe(status)` says it in plain words. The numbers (`catalog.forecast` has the method):
- daily demand: the mean forecast per day over the forecast horizon; days of cover = on hand / daily demand;
- sells out in about N days: the first day on which the forecast total demand since today reaches the stock on hand
  with probability ≥ 50% (None when that does not happen within the horizon);
- chance of selling out before the next replenishment: P(total demand from today to the day before the delivery
  ≥ on hand), from the negative binomial of the window total; without a delivery the window is the whole horizon,
  and a window reaching past the horizon is cut at its end.
States: discontinued (flag) before out of stock (0 on hand) before low (≤ reorder point) before in stock; a catalog
product without a stock record is `unknown`; a SKU not in the catalog raises `UnknownProduct`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from typing import Protocol

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.errors import CatalogUnavailable
from catalog.forecast import prob_running_total_at_least, prob_total_at_least
from catalog.forecast_store import ForecastPath, read_forecasts
from catalog.inventory import ReplenishmentStatus, StockLevel, UnknownProduct, store_today
from catalog.models import ProductRow, ReplenishmentRow, StockLevelRow

AT_RISK_PROBABILITY = 0.5
"""A product is at risk when it sells out before its next delivery with at least this probability."""


class StockState(StrEnum):
    IN_STOCK = "in_stock"
    LOW = "low"
    OUT_OF_STOCK = "out_of_stock"
    DISCONTINUED = "discontinued"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Restock:
    expected_on: date
    quantity: int


@dataclass(frozen=True)
class StockStatus:
    sku: str
    title: str
    state: StockState
    today: date
    on_hand: int | None = None
    """None when unknown."""
    reorder_point: int | None = None
    next_restock: Restock | None = None
    """The earliest expected delivery."""
    daily_demand: float | None = None
    """Mean forecast units per day over the horizon; None without a forecast."""
    days_of_cover: float | None = None
    """on_hand / daily_demand; None without a forecast or without demand."""
    sellout_days: int | None = None
    """Days until it is more likely than not sold out (1 = today), within the forecast horizon; else None."""
    sellout_probability: float | None = None
    """Chance of selling out before the next delivery (or within the horizon when none is expected)."""
    window_days: int | None = None
    """Days that chance covers (from today)."""
    window_demand: float | None = None
    """Mean forecast demand over those days."""
    horizon_days: int | None = None
    """Forecast days left from today."""
    forecast_model: str | None = None

    @property
    def available(self) -> bool:
        """Can be ordered now."""
        return self.on_hand is not None and self.on_hand > 0

    @property
    def at_risk(self) -> bool:
        return (
            self.state in (StockState.IN_STOCK, StockState.LOW)
            and self.sellout_probability is not None
            and self.sellout_probability >= AT_RISK_PROBABILITY
        )


def assess(
    sku: str,
    title: str,
    level: StockLevel | None,
    restocks: Sequence[Restock],
    forecast: ForecastPath | None,
    today: date,
) -> StockStatus:
    """The stock status from plain values (no database): the rules in the module doc."""
    upcoming = sorted((r for r in restocks if r.expected_on >= today), key=lambda r: r.expected_on)
    restock = upcoming[0] if upcoming else None
    if level is None:
        return StockStatus(sku=sku, title=title, state=StockState.UNKNOWN, today=today, next_restock=restock)
    if level.discontinued:
        state, restock = StockState.DISCONTINUED, None
    elif level.on_hand == 0:
        state = StockState.OUT_OF_STOCK
    elif level.on_hand <= level.reorder_point:
        state = StockState.LOW
    else:
        state = StockState.IN_STOCK
    known = StockStatus(
        sku=sku,
        title=title,
        state=state,
        today=today,
        on_hand=level.on_hand,
        reorder_point=level.reorder_point,
        next_restock=restock,
    )
    mean = _from_today(forecast, today)
    if forecast is None or mean is None:
        return known
    daily = float(mean.mean())
    window = len(mean) if restock is None else min((restock.expected_on - today).days, len(mean))
    if level.on_hand == 0:
        probability = 1.0
    elif window > 0:
        probability = prob_total_at_least(mean[:window], forecast.dispersion, level.on_hand)
    else:
        probability = 0.0
    return replace(
        known,
        daily_demand=daily,
        days_of_cover=level.on_hand / daily if daily > 0 else None,
        sellout_days=_median_sellout_day(mean, forecast.dispersion, level.on_hand),
        sellout_probability=probability,
        window_days=window,
        window_demand=float(mean[:window].sum()),
        horizon_days=len(mean),
        forecast_model=forecast.model,
    )


def _from_today(forecast: ForecastPath | None, today: date) -> np.ndarray | None:
    if forecast is None:
        return None
    keep = [i for i, day in enumerate(forecast.days) if day >= today]
    return forecast.mean[keep] if keep else None


def _median_sellout_day(mean: np.ndarray, dispersion: float | None, on_hand: int) -> int | None:
    """The first day d with P(demand of days 1..d ≥ on_hand) ≥ 50%."""
    if on_hand == 0 or mean.sum() <= 0:
        return None
    likely = np.flatnonzero(prob_running_total_at_least(mean, dispersion, on_hand) >= 0.5)
    return int(likely[0]) + 1 if len(likely) else None


def _day(d: date, today: date) -> str:
    return f"{d.day} {d:%b}" if d.year == today.year else f"{d.day} {d:%b %Y}"


def describe(status: StockStatus) -> str:
    """The status in plain words, e.g. '12 left — at the current pace it usually sells out in about 4 days; 48 more
    arrive on 3 Dec.' (For staff tools and tests; the assistant's wording lives in the Rasa domain's responses.)"""
    restock = status.next_restock
    arrives = None
    if restock is not None:
        verb = "arrives" if restock.quantity == 1 else "arrive"
        arrives = f"{restock.quantity} more {verb} on {_day(restock.expected_on, status.today)}"
    if status.state is StockState.UNKNOWN:
        return "No stock information for this product."
    if status.state is StockState.DISCONTINUED:
        if status.on_hand:
            return f"Discontinued — {status.on_hand} left, and no more are coming."
        return "Discontinued and sold out; no more are coming."
    if status.state is StockState.OUT_OF_STOCK:
        return f"Out of stock — {arrives}." if arrives else "Out of stock, and no restock date is set yet."
    text = f"{status.on_hand} left" if status.state is StockState.LOW else f"{status.on_hand} in stock"
    if status.sellout_days == 1:
        text += " — at the current pace it may sell out today"
    elif status.sellout_days is not None:
        text += f" — at the current pace it usually sells out in about {status.sellout_days} days"
    elif status.daily_demand and status.horizon_days and status.horizon_days >= 14:
        text += f" — enough for more than {status.horizon_days // 7} weeks at the current pace"
    return f"{text}; {arrives}." if arrives else f"{text}."


class StockLookup(Protocol):
    """What an assistant action needs (tests inject a fake)."""

    def status(self, sku: str) -> StockStatus: ...

    def statuses(self, skus: Sequence[str]) -> dict[str, StockStatus]: ...


class StockService:
    """Stock statuses from the catalog database (blocking: call it from a thread in async code)."""

    def __init__(self, engine: Engine, today: Callable[[], date] | None = None) -> None:
        self._engine = engine
        self._today = today

    def today(self) -> date:
        return self._today() if self._today is not None else store_today(self._engine)

    def status(self, sku: str) -> StockStatus:
        """Raises `UnknownProduct` for a SKU that is not in the catalog."""
        found = self.statuses([sku])
        if sku not in found:
            raise UnknownProduct(f"no product with SKU {sku!r} in the catalog")
        return found[sku]

    def statuses(self, skus: Sequence[str] | None) -> dict[str, StockStatus]:
        """Statuses of the given SKUs (all catalog products when None); SKUs not in the catalog are absent."""
        today = self.today()
        wanted = list(dict.fromkeys(skus)) if skus is not None else None
        try:
            with self._engine.connect() as conn:
                products = select(ProductRow.stock_code, ProductRow.title)
                levels = select(StockLevelRow)
                restocks = select(ReplenishmentRow.sku, ReplenishmentRow.expected_on, ReplenishmentRow.quantity).where(
                    ReplenishmentRow.status == ReplenishmentStatus.EXPECTED.value
                )
                if wanted is not None:
                    products = products.where(ProductRow.stock_code.in_(wanted))
                    levels = levels.where(StockLevelRow.sku.in_(wanted))
                    restocks = restocks.where(ReplenishmentRow.sku.in_(wanted))
                titles = dict(conn.execute(products).all())
                stock = {
                    r.sku: StockLevel(r.sku, r.on_hand, r.reorder_point, r.lead_time_days, r.discontinued)
                    for r in conn.execute(levels)
                }
                incoming: dict[str, list[Restock]] = {}
                for sku, expected_on, quantity in conn.execute(restocks):
                    incoming.setdefault(sku, []).append(Restock(expected_on, quantity))
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading stock failed: {exc}") from exc
        forecasts = read_forecasts(self._engine, wanted, today)
        return {
            sku: assess(sku, title, stock.get(sku), incoming.get(sku, []), forecasts.get(sku), today)
            for sku, title in titles.items()
        }

    def available_skus(self) -> frozenset[str]:
        """SKUs that can be ordered now (on hand > 0, not discontinued): the "in stock" search filter, one query."""
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(StockLevelRow.sku).where(StockLevelRow.on_hand > 0, StockLevelRow.discontinued.is_(False))
                )
                return frozenset(rows.scalars())
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading stock failed: {exc}") from exc

    def discontinued_skus(self) -> frozenset[str]:
        """SKUs the shop no longer sells (search shows them after everything else), one query."""
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(select(StockLevelRow.sku).where(StockLevelRow.discontinued.is_(True)))
                return frozenset(rows.scalars())
        except SQLAlchemyError as exc:
            raise CatalogUnavailable(f"reading stock failed: {exc}") from exc

    def at_risk(self, limit: int = 20) -> list[StockStatus]:
        """Products likely to sell out before their next delivery, most likely first."""
        risky = [s for s in self.statuses(None).values() if s.at_risk]
        risky.sort(key=lambda s: (-(s.sellout_probability or 0.0), s.days_of_cover or 0.0, s.sku))
        return risky[:limit]
