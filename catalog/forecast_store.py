"""Forecasts in the catalog database: read the sales history, write and read `demand_forecasts`.

`make_forecasts` fits the chosen model for every product sold in the last year (older products get no forecast: their
stock status says so) and replaces the stored forecasts in one transaction. It is skipped when the catalog's import
fingerprint, `FORECAST_VERSION`, the model and the horizon are those of the stored run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from catalog.bulk import write_frame
from catalog.db import require_built
from catalog.errors import CatalogUnavailable
from catalog.forecast import (
    DEFAULT_MODEL,
    HORIZON,
    DemandHistory,
    ForecastModel,
    ForecastNotBuilt,
    make_forecaster,
)
from catalog.ingest import SOURCE as IMPORT_SOURCE
from catalog.models import Base, DailySalesRow, DemandForecastRow, ForecastRunRow, ImportRunRow, ProductRow

FORECAST_VERSION = "1"
"""Part of the fingerprint: bump it when the forecasting code changes, so unchanged catalogs are forecast again."""
ACTIVE_DAYS = 365


@dataclass(frozen=True)
class ForecastRun:
    fingerprint: str
    model: str
    first_day: date
    horizon_days: int
    products: int
    seconds: float
    skipped: bool = False


@dataclass(frozen=True)
class ForecastPath:
    """One product's stored forecast, from `days[0]` on."""

    sku: str
    days: tuple[date, ...]
    mean: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    dispersion: float | None
    model: str


def load_history(engine: Engine) -> DemandHistory:
    """Units sold per product and day, from the first to the last day of sales (products without sales: none)."""
    require_built(engine)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(ProductRow.stock_code, DailySalesRow.day, DailySalesRow.units_sold).join(
                    ProductRow, ProductRow.id == DailySalesRow.product_id
                )
            ).all()
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"reading daily sales failed: {exc}") from exc
    if not rows:
        raise ForecastNotBuilt("the catalog has no sales to forecast from; run `python -m catalog build`")
    frame = pd.DataFrame(rows, columns=["sku", "day", "units"])
    frame["day"] = pd.to_datetime(frame["day"])
    skus = np.sort(frame["sku"].unique())
    start = frame["day"].min()
    days = (frame["day"].max() - start).days + 1
    units = np.zeros((len(skus), days))
    units[np.searchsorted(skus, frame["sku"].to_numpy()), (frame["day"] - start).dt.days.to_numpy()] = frame["units"]
    return DemandHistory(tuple(str(s) for s in skus), start.date(), units)


def forecast_fingerprint(engine: Engine, model: ForecastModel, horizon: int) -> str:
    with engine.connect() as conn:
        imported = conn.scalar(select(ImportRunRow.fingerprint).where(ImportRunRow.source == IMPORT_SOURCE))
    return hashlib.sha256(f"forecast:{FORECAST_VERSION}:{model.value}:{horizon}:{imported}".encode()).hexdigest()


def last_run(engine: Engine) -> ForecastRun | None:
    try:
        with engine.connect() as conn:
            row = conn.execute(select(ForecastRunRow).order_by(ForecastRunRow.id.desc()).limit(1)).first()
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"reading the forecast run failed: {exc}") from exc
    if row is None:
        return None
    return ForecastRun(row.fingerprint, row.model, row.first_day, row.horizon_days, row.products, row.seconds)


def make_forecasts(
    engine: Engine, model: ForecastModel | str = DEFAULT_MODEL, force: bool = False, horizon: int = HORIZON
) -> ForecastRun:
    """Forecast every product sold in the last year and store the result, unless nothing changed since the last run."""
    model = ForecastModel(model)
    started = time.perf_counter()
    require_built(engine)
    fingerprint = forecast_fingerprint(engine, model, horizon)
    previous = last_run(engine)
    if previous is not None and previous.fingerprint == fingerprint and not force:
        return replace(previous, skipped=True)
    history = load_history(engine)
    forecast = make_forecaster(model).forecast(history, horizon, history.active(ACTIVE_DAYS))
    lo, hi = forecast.interval80()
    made_at = datetime.now(timezone.utc).replace(tzinfo=None)
    n = len(forecast.skus)
    frame = pd.DataFrame(
        {
            "sku": np.repeat(np.asarray(forecast.skus, dtype=object), horizon),
            "day": np.tile(pd.date_range(forecast.first_day, periods=horizon, freq="D").date, n),
            "mean": forecast.mean.reshape(-1).round(4),
            "lo80": lo.reshape(-1),
            "hi80": hi.reshape(-1),
            "dispersion": np.repeat(np.where(np.isfinite(forecast.dispersion), forecast.dispersion, np.nan), horizon),
            "model": model.value,
            "made_at": made_at,
        }
    )
    run = ForecastRun(fingerprint, model.value, forecast.first_day, horizon, n, round(time.perf_counter() - started, 3))
    try:
        with engine.begin() as conn:
            conn.execute(delete(DemandForecastRow))
            write_frame(conn, Base.metadata.tables[DemandForecastRow.__tablename__], frame)
            conn.execute(delete(ForecastRunRow))
            conn.execute(
                insert(ForecastRunRow).values(
                    fingerprint=fingerprint,
                    model=model.value,
                    first_day=forecast.first_day,
                    horizon_days=horizon,
                    products=n,
                    seconds=run.seconds,
                    made_at=made_at,
                )
            )
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"writing forecasts to {engine.url!r} failed: {exc}") from exc
    return run


def read_forecasts(engine: Engine, skus: Sequence[str] | None, since: date) -> dict[str, ForecastPath]:
    """Stored forecasts from `since` on, per SKU (all SKUs when `skus` is None); SKUs without one are absent."""
    table = DemandForecastRow
    query = select(table.sku, table.day, table.mean, table.lo80, table.hi80, table.dispersion, table.model)
    query = query.where(table.day >= since)
    if skus is not None:
        query = query.where(table.sku.in_(list(skus)))
    try:
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(table.sku, table.day)).all()
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"reading forecasts failed: {exc}") from exc
    if not rows:
        return {}
    frame = pd.DataFrame(rows, columns=["sku", "day", "mean", "lo80", "hi80", "dispersion", "model"])
    paths = {}
    for sku, part in frame.groupby("sku", sort=False):
        dispersion = part["dispersion"].iloc[0]
        paths[str(sku)] = ForecastPath(
            sku=str(sku),
            days=tuple(part["day"]),
            mean=part["mean"].to_numpy(dtype=float),
            lo80=part["lo80"].to_numpy(dtype=float),
            hi80=part["hi80"].to_numpy(dtype=float),
            dispersion=None if pd.isna(dispersion) else float(dispersion),
            model=str(part["model"].iloc[0]),
        )
    return paths


def forecast_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(DemandForecastRow)) or 0)


def sales_history(engine: Engine, sku: str, days: int) -> tuple[list[date], list[int]]:
    """One product's daily units sold over its last `days` days of data (zeros filled in), for plots."""
    with engine.connect() as conn:
        last = conn.scalar(select(func.max(DailySalesRow.day)))
        if last is None:
            return [], []
        first = last - timedelta(days=days - 1)
        rows = conn.execute(
            select(DailySalesRow.day, DailySalesRow.units_sold)
            .join(ProductRow, ProductRow.id == DailySalesRow.product_id)
            .where(ProductRow.stock_code == sku, DailySalesRow.day >= first)
        ).all()
    sold = {day: units for day, units in rows}
    span = [first + timedelta(days=i) for i in range(days)]
    return span, [int(sold.get(day, 0)) for day in span]
