"""Daily demand forecasts per product, 28 days ahead, with quantiles: the models and their uncertainty.

Demand here is intermittent (most product-days sell nothing), weekly (almost no Saturday trade) and seasonal (Q4
peak), and heavy-tailed (wholesale orders of hundreds of units). Every model gives a mean per product and day; the
quantiles come either from the library's own intervals (seasonal naive and AutoETS: normal, clipped at 0) or from a
negative-binomial head: day t's demand ~ NB(mean μ_t, size k), k the product's over-dispersion estimated from its
last year of daily sales by moments (k = m² / (v − m); Poisson when v ≤ m). The head gives integer, skewed
quantiles, which is what stock decisions need.

The 80% interval is [q10, q90] when q10 > 0; when q10 is 0 (the usual case: P(no sale) > 10%) it is [0, q80]: for
a count with that much mass at zero [0, q90] would hold ≥ 90%, not 80%.

Window totals (for the chance of selling out): the demand over days 1..L is approximated by a negative binomial with
mean M = Σ μ_t and variance V = Σ (μ_t + μ_t²/k) + c·M², days independent given the level, plus a level
uncertainty term c·M² (`LEVEL_UNCERTAINTY`, c = 1) because the level itself is uncertain and days co-move. c was
chosen on backtests before the evaluation window: with independent days (c = 0) 28-day totals exceeded their 90%
quantile 16-20% of the time; with c = 1, 12-15% (the upper tail stays a little light: wholesale orders).

Models (`ForecastModel`): all-zero (a reference: it wins MASE on this data and is useless for stock), statsforecast's
SeasonalNaive, AutoETS, CrostonOptimized, TSB and ADIDA on each product's last year, TSB scaled by the store's
weekday profile (and, in `tsb_seasonal`, last year's store-level seasonal change), and a global
HistGradientBoosting model over all products on lag, window and calendar features. `bench/forecast_quality.py`
compares them by rolling-origin backtest; `DEFAULT_MODEL` is its choice on the reference store.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy import stats  # type: ignore[import-untyped,unused-ignore]

from catalog.errors import CatalogError

Array = npt.NDArray[np.float64]
Rows = Sequence[int] | npt.NDArray[np.intp]
HORIZON = 28
QUANTILES = (0.1, 0.5, 0.8, 0.9, 0.95)
LOCAL_HISTORY_DAYS = 365
"""Local models see each product's last year (AutoETS on two years costs twice as much for no gain here)."""
LEVEL_UNCERTAINTY = 1.0
"""c in the window-total variance above."""
WEEKDAY_PROFILE_DAYS = 84


class ForecastError(CatalogError):
    """Base class of the forecasting errors."""


class ForecastNotBuilt(ForecastError):
    """No forecasts are stored; the message names the command that makes them."""


class ForecastModel(StrEnum):
    ZERO = "zero"
    SEASONAL_NAIVE = "seasonal_naive"
    AUTO_ETS = "auto_ets"
    CROSTON = "croston"
    TSB = "tsb"
    ADIDA = "adida"
    TSB_WEEKDAY = "tsb_weekday"
    TSB_SEASONAL = "tsb_seasonal"
    GLOBAL_GBM = "global_gbm"


DEFAULT_MODEL = ForecastModel.TSB_WEEKDAY
"""Chosen by `bench/forecast_quality.py` (lowest RMSSE and quantile loss, relative to seasonal naive)."""


@dataclass(frozen=True)
class DemandHistory:
    """Units sold per product (rows) and day (columns, consecutive from `start`; days without sales are 0)."""

    skus: tuple[str, ...]
    start: date
    units: Array

    def __post_init__(self) -> None:
        if self.units.ndim != 2 or self.units.shape[0] != len(self.skus):
            raise ValueError(f"units has shape {self.units.shape}; expected ({len(self.skus)}, days)")

    @property
    def days(self) -> int:
        return int(self.units.shape[1])

    @property
    def end(self) -> date:
        """The last day with data."""
        return self.start + timedelta(days=self.days - 1)

    def until(self, days: int) -> DemandHistory:
        """The first `days` days only (a backtest's training data)."""
        return replace(self, units=self.units[:, :days])

    def active(self, within_days: int = 365) -> npt.NDArray[np.intp]:
        """Rows of the products that sold anything in the last `within_days` days."""
        return np.flatnonzero(self.units[:, -within_days:].sum(axis=1) > 0)


@dataclass(frozen=True)
class DemandForecast:
    """Forecast for some products (rows) and `horizon` days from `first_day`."""

    skus: tuple[str, ...]
    first_day: date
    mean: Array
    quantiles: Mapping[float, Array]
    """QUANTILES → (products, days)."""
    dispersion: Array
    """Negative-binomial size per product (inf: Poisson)."""
    model: str
    fit_seconds: float = 0.0
    adaptive_interval: bool = True
    """False for library intervals: the 80% interval is then the library's own [q10, q90]."""

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])

    def take(self, rows: npt.NDArray[np.intp] | npt.NDArray[np.bool_]) -> DemandForecast:
        """The forecast of some rows only."""
        return replace(
            self,
            skus=tuple(np.asarray(self.skus, dtype=object)[rows]),
            mean=self.mean[rows],
            quantiles={tau: q[rows] for tau, q in self.quantiles.items()},
            dispersion=self.dispersion[rows],
        )

    def interval80(self) -> tuple[Array, Array]:
        """[q10, q90], or [0, q80] where q10 is 0 (see the module doc)."""
        lo = self.quantiles[0.1]
        if not self.adaptive_interval:
            return lo, self.quantiles[0.9]
        return lo, np.where(lo > 0, self.quantiles[0.9], self.quantiles[0.8])


class Forecaster(Protocol):
    """Forecasts `rows` of a history (default: all), using the whole history where a model pools products."""

    name: str

    def forecast(self, history: DemandHistory, horizon: int = HORIZON, rows: Rows | None = None) -> DemandForecast: ...


# --- uncertainty ------------------------------------------------------------------------------------------------


def dispersion_from_history(units: Array, days: int = LOCAL_HISTORY_DAYS) -> Array:
    """Negative-binomial size k per row by moments over the last `days` days (inf where not over-dispersed)."""
    recent = units[:, -days:]
    m = recent.mean(axis=1)
    v = recent.var(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where((m > 0) & (v > m), m * m / (v - m), np.inf)
    return k


def nb_quantiles(mean: Array, dispersion: Array, taus: Sequence[float] = QUANTILES) -> dict[float, Array]:
    """Quantiles of NB(mean, size) per row and day; Poisson where the size is infinite."""
    mu = np.maximum(mean, 1e-12)
    k = np.broadcast_to(dispersion[:, None], mu.shape)
    finite = np.isfinite(k)
    out: dict[float, Array] = {}
    for tau in taus:
        q = np.zeros_like(mu)
        if finite.any():
            kf = k[finite]
            q[finite] = stats.nbinom.ppf(tau, kf, kf / (kf + mu[finite]))
        if (~finite).any():
            q[~finite] = stats.poisson.ppf(tau, mu[~finite])
        out[tau] = np.where(mean > 0, q, 0.0)
    return out


def window_total_moments(mean: Array, dispersion: float | None) -> tuple[float, float]:
    """Mean and variance of the total demand of the days in `mean` (see the module doc)."""
    total = float(mean.sum())
    daily = mean if dispersion is None or not math.isfinite(dispersion) else mean + mean * mean / dispersion
    return total, float(daily.sum()) + LEVEL_UNCERTAINTY * total * total


def prob_total_at_least(mean: Array, dispersion: float | None, units: int) -> float:
    """P(total demand over the days of `mean` ≥ `units`), by a moment-matched negative binomial."""
    if len(mean) == 0:
        return 0.0 if units > 0 else 1.0
    return float(prob_running_total_at_least(mean, dispersion, units)[-1])


def prob_running_total_at_least(mean: Array, dispersion: float | None, units: int) -> Array:
    """For each day d, P(total demand of days 1..d ≥ `units`) (window totals as in the module doc)."""
    if units <= 0:
        return np.ones(len(mean))
    daily = mean if dispersion is None or not math.isfinite(dispersion) else mean + mean * mean / dispersion
    total = np.cumsum(mean)
    variance = np.cumsum(daily) + LEVEL_UNCERTAINTY * total * total
    out = np.zeros(len(mean))
    positive = total > 0
    poisson = positive & (variance <= total * (1 + 1e-9))
    negbin = positive & ~poisson
    out[poisson] = stats.poisson.sf(units - 1, total[poisson])
    m, v = total[negbin], variance[negbin]
    out[negbin] = stats.nbinom.sf(units - 1, m * m / (v - m), m / v)
    return out


def _with_head(
    history: DemandHistory, rows: npt.NDArray[np.intp], mean: Array, name: str, seconds: float, horizon: int
) -> DemandForecast:
    dispersion = dispersion_from_history(history.units[rows])
    return DemandForecast(
        skus=tuple(history.skus[i] for i in rows),
        first_day=history.end + timedelta(days=1),
        mean=mean,
        quantiles=nb_quantiles(mean, dispersion),
        dispersion=dispersion,
        model=name,
        fit_seconds=seconds,
    )


def _rows(history: DemandHistory, rows: Rows | None) -> npt.NDArray[np.intp]:
    return np.arange(len(history.skus)) if rows is None else np.asarray(rows, dtype=np.intp)


# --- models -----------------------------------------------------------------------------------------------------


class ZeroForecaster:
    """Predicts no demand at all: the reference row every model must beat on the metrics that matter."""

    name = ForecastModel.ZERO.value

    def forecast(self, history: DemandHistory, horizon: int = HORIZON, rows: Rows | None = None) -> DemandForecast:
        picked = _rows(history, rows)
        return _with_head(history, picked, np.zeros((len(picked), horizon)), self.name, 0.0, horizon)


@dataclass
class StatsForecastForecaster:
    """One statsforecast model fitted to each product's own recent history (leading zeros dropped)."""

    name: str
    factory: Callable[[], Any]
    library_intervals: bool = False
    """Quantiles from the model's own normal intervals (else the negative-binomial head)."""
    history_days: int = LOCAL_HISTORY_DAYS
    min_days: int = 14

    def forecast(self, history: DemandHistory, horizon: int = HORIZON, rows: Rows | None = None) -> DemandForecast:
        picked = _rows(history, rows)
        started = time.perf_counter()
        mean = np.zeros((len(picked), horizon))
        bounds = {tau: np.zeros((len(picked), horizon)) for tau in QUANTILES}
        levels = {60: (None, 0.8), 80: (0.1, 0.9), 90: (None, 0.95)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for j, i in enumerate(picked):
                y = history.units[i, -self.history_days :]
                sold = np.flatnonzero(y)
                if len(sold) == 0:
                    continue
                y = y[min(sold[0], max(len(y) - self.min_days, 0)) :]
                model = self.factory()
                if self.library_intervals:
                    out = model.forecast(y=y, h=horizon, level=list(levels))
                    mean[j] = np.maximum(np.nan_to_num(out["mean"]), 0)
                    bounds[0.5][j] = mean[j]
                    for level, (lo_tau, hi_tau) in levels.items():
                        bounds[hi_tau][j] = np.maximum(np.nan_to_num(out[f"hi-{level}"]), 0)
                        if lo_tau is not None:
                            bounds[lo_tau][j] = np.maximum(np.nan_to_num(out[f"lo-{level}"]), 0)
                else:
                    mean[j] = np.maximum(np.nan_to_num(model.forecast(y=y, h=horizon)["mean"]), 0)
        result = _with_head(history, picked, mean, self.name, time.perf_counter() - started, horizon)
        if self.library_intervals:
            return replace(result, quantiles=bounds, adaptive_interval=False)
        return result


def store_weekday_profile(units: Array, days: int = WEEKDAY_PROFILE_DAYS) -> Array:
    """The store's sales by weekday over the last `days` days (a multiple of 7) relative to the mean day:
    index w is the weekday of column −days + w (so of column −7 + w too). Mean 1; flat under a week of data."""
    days = min(days, units.shape[1] // 7 * 7)
    if days == 0:
        return np.ones(7)
    total = units[:, -days:].sum(axis=0).reshape(-1, 7).sum(axis=0)
    return total / total.mean() if total.sum() > 0 else np.ones(7)


def store_season_factors(units: Array, horizon: int) -> Array:
    """How the store's daily sales moved last year from the 28 days before the origin to each day of the horizon
    (7-day centred means, a year = 364 days so weekdays align). Ones when there is less than a year of data."""
    total = units.sum(axis=0)
    end = units.shape[1]
    if end - 364 - 28 < 0 or end - 364 + horizon + 3 > end:
        return np.ones(horizon)
    base = total[end - 364 - 28 : end - 364].mean()
    if base <= 0:
        return np.ones(horizon)
    return np.array([total[end - 364 + h - 3 : end - 364 + h + 4].mean() / base for h in range(horizon)])


@dataclass
class StoreProfileForecaster:
    """Another model's forecast reshaped by store-level patterns: the weekday profile (Saturdays ~0) and,
    optionally, last year's seasonal change. Weekly totals are kept by the weekday profile (its mean is 1)."""

    name: str
    base: Forecaster
    season: bool = False

    def forecast(self, history: DemandHistory, horizon: int = HORIZON, rows: Rows | None = None) -> DemandForecast:
        picked = _rows(history, rows)
        inner = self.base.forecast(history, horizon, picked)
        started = time.perf_counter()
        profile = store_weekday_profile(history.units)
        factors = np.array([profile[h % 7] for h in range(horizon)])
        if self.season:
            factors = factors * store_season_factors(history.units, horizon)
        mean = inner.mean * factors[None, :]
        return _with_head(history, picked, mean, self.name, inner.fit_seconds + time.perf_counter() - started, horizon)


@dataclass
class GlobalGradientBoostingForecaster:
    """One HistGradientBoosting model across products, direct multi-horizon: a row per (product, origin, day
    ahead) with the product's recent window means, weekday share, last-year values, the store's last-year seasonal
    change and calendar features; targets and level features divided by the product's RMSSE scale, so every
    product weighs alike (as in the metric). Trained on weekly origins before the forecast origin, subsampled."""

    name: str = ForecastModel.GLOBAL_GBM.value
    sample_rows: int = 300_000
    max_iter: int = 200
    seed: int = 0
    threads: int = 1
    """OpenMP threads: on a shared 2-core machine two threads spin against other work (measured 10x slower)."""

    def forecast(self, history: DemandHistory, horizon: int = HORIZON, rows: Rows | None = None) -> DemandForecast:
        from sklearn.ensemble import HistGradientBoostingRegressor  # type: ignore[import-untyped,unused-ignore]
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped,unused-ignore]

        picked = _rows(history, rows)
        started = time.perf_counter()
        units = history.units
        end = history.days
        padded = np.concatenate([units, np.zeros((units.shape[0], horizon))], axis=1)
        cums = np.concatenate([np.zeros((units.shape[0], 1)), np.cumsum(padded, axis=1)], axis=1)
        first = np.where(units.sum(axis=1) > 0, np.argmax(units > 0, axis=1), end)
        store = padded.sum(axis=0)
        rng = np.random.default_rng(self.seed)
        origins = list(range(end - horizon, 120, -7))
        per_origin = max(1, self.sample_rows // (max(len(origins), 1) * horizon))
        xs, ys = [], []
        for origin in origins:
            candidates = np.flatnonzero((first < origin) & (padded[:, max(origin - 364, 0) : origin].sum(axis=1) > 0))
            if len(candidates) == 0:
                continue
            chosen = rng.choice(candidates, min(per_origin, len(candidates)), replace=False)
            scale = rmsse_scale(units[chosen, :origin])
            x = _gbm_features(padded, cums, first, store, origin, horizon, chosen, scale)
            xs.append(x.reshape(-1, x.shape[-1]))
            ys.append((padded[chosen, origin : origin + horizon] / scale[:, None]).reshape(-1))
        x_train, y_train = np.concatenate(xs), np.concatenate(ys)
        positive = y_train[y_train > 0]
        if len(positive):
            y_train = np.minimum(y_train, np.quantile(positive, 0.999))
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=0.05,
            max_leaf_nodes=63,
            min_samples_leaf=200,
            categorical_features=[1],
            early_stopping=False,
            random_state=self.seed,
        )
        scale = rmsse_scale(units[picked])
        x = _gbm_features(padded, cums, first, store, end, horizon, picked, scale)
        with threadpool_limits(self.threads):
            model.fit(x_train, y_train)
            predicted = model.predict(x.reshape(-1, x.shape[-1]))
        mean = np.maximum(predicted.reshape(len(picked), horizon), 0)
        mean = mean * scale[:, None]
        mean[units[picked].sum(axis=1) == 0] = 0.0
        return _with_head(history, picked, mean, self.name, time.perf_counter() - started, horizon)


def rmsse_scale(units: Array) -> Array:
    """√(mean squared day-to-day change since the first sale) per row: the RMSSE denominator; 1 where undefined."""
    days = units.shape[1]
    first = np.where(units.sum(axis=1) > 0, np.argmax(units > 0, axis=1), days)
    diffs = np.diff(units, axis=1) ** 2
    mask = np.arange(1, days)[None, :] > first[:, None]
    count = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sqrt((diffs * mask).sum(axis=1) / count)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def _gbm_features(
    padded: Array,
    cums: Array,
    first: npt.NDArray[np.intp],
    store: Array,
    origin: int,
    horizon: int,
    rows: npt.NDArray[np.intp],
    scale: Array,
) -> Array:
    """(rows, horizon, features) known at `origin` (the first day not seen). Weekdays are counted from the origin:
    training origins are whole weeks before the forecast origin, so they mean the same calendar days."""
    n = len(rows)
    c = cums[rows]
    f = first[rows]
    idx = np.arange(n)

    def window(a: npt.NDArray[np.intp] | int, b: npt.NDArray[np.intp] | int) -> Array:
        lo = np.broadcast_to(np.maximum(np.maximum(a, f), 0), (n,))
        hi = np.broadcast_to(np.asarray(b), (n,))
        length = hi - lo
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(length > 0, (c[idx, np.maximum(hi, 0)] - c[idx, np.maximum(lo, 0)]) / length, np.nan)

    levels = [window(origin - w, origin) / scale for w in (7, 28, 91, 364)]
    recent = padded[rows, origin - 28 : origin]
    nonzero28 = (recent > 0).mean(axis=1)
    sold = padded[rows, :origin] > 0
    since_sale = np.where(sold.any(axis=1), np.argmax(sold[:, ::-1], axis=1), 365).clip(max=365)
    age = np.minimum(origin - f, 730)
    block = padded[rows, origin - WEEKDAY_PROFILE_DAYS : origin].reshape(n, -1, 7).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = block / block.sum(axis=1, keepdims=True) * 7
    store_profile = store_weekday_profile(padded[:, :origin])
    store_cum = np.concatenate([[0.0], np.cumsum(store)])
    year = origin - 364 - 28 >= 0
    store_base = (store_cum[origin - 364] - store_cum[origin - 364 - 28]) / 28 if year else np.nan
    store_yoy = ((store_cum[origin] - store_cum[origin - 28]) / 28) / store_base if year and store_base > 0 else np.nan
    last_year_origin = window(origin - 364 - 28, origin - 364) / scale if year else np.full(n, np.nan)
    out = np.empty((n, horizon, 15))
    for h in range(horizon):
        day = origin + h
        weekday = (day - origin) % 7
        ly = day - 364
        last_year = window(ly - 3, ly + 4) / scale if ly - 3 >= 0 and ly + 4 <= origin else np.full(n, np.nan)
        store_season = (
            (store_cum[ly + 4] - store_cum[ly - 3]) / 7 / store_base
            if year and store_base > 0 and ly + 4 <= origin
            else np.nan
        )
        out[:, h] = np.column_stack(
            [
                np.full(n, h + 1),
                np.full(n, weekday),
                *levels,
                nonzero28,
                since_sale,
                age,
                share[:, weekday],
                last_year,
                last_year_origin,
                np.full(n, store_season),
                np.full(n, store_yoy),
                np.full(n, store_profile[weekday]),
            ]
        )
    return out


def make_forecaster(model: ForecastModel | str) -> Forecaster:
    """The forecaster of one `ForecastModel` value."""
    from statsforecast.models import ADIDA, TSB, AutoETS, CrostonOptimized, SeasonalNaive

    model = ForecastModel(model)

    def tsb() -> Forecaster:
        return StatsForecastForecaster(ForecastModel.TSB.value, lambda: TSB(alpha_d=0.1, alpha_p=0.1))

    makers: dict[ForecastModel, Callable[[], Forecaster]] = {
        ForecastModel.ZERO: ZeroForecaster,
        ForecastModel.SEASONAL_NAIVE: lambda: StatsForecastForecaster(
            model.value, lambda: SeasonalNaive(season_length=7), library_intervals=True
        ),
        ForecastModel.AUTO_ETS: lambda: StatsForecastForecaster(
            model.value, lambda: AutoETS(season_length=7), library_intervals=True
        ),
        ForecastModel.CROSTON: lambda: StatsForecastForecaster(model.value, CrostonOptimized),
        ForecastModel.TSB: tsb,
        ForecastModel.ADIDA: lambda: StatsForecastForecaster(model.value, ADIDA),
        ForecastModel.TSB_WEEKDAY: lambda: StoreProfileForecaster(model.value, tsb()),
        ForecastModel.TSB_SEASONAL: lambda: StoreProfileForecaster(model.value, tsb(), season=True),
        ForecastModel.GLOBAL_GBM: GlobalGradientBoostingForecaster,
    }
    return makers[model]()
