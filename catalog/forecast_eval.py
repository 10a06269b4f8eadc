"""Forecast accuracy: M5-style scaled metrics and a rolling-origin backtest that compares forecasters.

Per product, with the training series taken from its first sale (leading zeros dropped, as in M5):
- RMSSE = √( mean_h (y − ŷ)² / mean_t (y_t − y_{t−1})² ), the M5 accuracy metric;
- MASE  = mean_h |y − ŷ| / mean_t |y_t − y_{t−1}| (one-step naive scale, as M5);
- SPL_τ = mean_h pinball_τ(y, q_τ) / mean_t |y_t − y_{t−1}|, the scaled pinball loss of M5's uncertainty track;
- coverage = share of product-days with lo ≤ y ≤ hi; bias = (Σ ŷ − Σ y) / Σ y over all product-days.
Products whose scale is zero or undefined (fewer than two days since their first sale, or never a change) are left
out of every metric. Scores are means over products, then over origins (products weigh alike: no revenue weights).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog.forecast import HORIZON, DemandForecast, DemandHistory, Forecaster, Rows, window_total_moments

Array = npt.NDArray[np.float64]
SPL_TAUS = (0.5, 0.8, 0.95)


def naive_scales(train: Array) -> tuple[Array, Array]:
    """(mean squared, mean absolute) one-step change per row since its first sale; NaN where undefined."""
    days = train.shape[1]
    first = np.where(train.sum(axis=1) > 0, np.argmax(train > 0, axis=1), days)
    diffs = np.diff(train, axis=1)
    mask = np.arange(1, days)[None, :] > first[:, None]
    count = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        squared = np.where(count > 0, (diffs**2 * mask).sum(axis=1) / count, np.nan)
        absolute = np.where(count > 0, (np.abs(diffs) * mask).sum(axis=1) / count, np.nan)
    return squared, absolute


def rmsse(actual: Array, forecast: Array, train: Array) -> Array:
    squared, _ = naive_scales(train)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Array = np.sqrt(np.mean((actual - forecast) ** 2, axis=1) / squared)
    return result


def mase(actual: Array, forecast: Array, train: Array) -> Array:
    _, absolute = naive_scales(train)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Array = np.mean(np.abs(actual - forecast), axis=1) / absolute
    return result


def pinball(actual: Array, quantile: Array, tau: float) -> Array:
    """Pinball loss per element: τ·(y − q) when y ≥ q, else (1 − τ)·(q − y)."""
    error = actual - quantile
    return np.maximum(tau * error, (tau - 1) * error)


def scaled_pinball(actual: Array, quantile: Array, tau: float, train: Array) -> Array:
    _, absolute = naive_scales(train)
    with np.errstate(divide="ignore", invalid="ignore"):
        result: Array = np.mean(pinball(actual, quantile, tau), axis=1) / absolute
    return result


def coverage(actual: Array, lo: Array, hi: Array) -> float:
    return float(np.mean((lo <= actual) & (actual <= hi)))


def bias(actual: Array, forecast: Array) -> float:
    total = float(actual.sum())
    return float(forecast.sum() - total) / total if total > 0 else float("nan")


def total_coverage(actual: Array, forecast: DemandForecast, days: int = HORIZON) -> float:
    """Share of products whose demand over the first `days` days fell in the central 80% of the window-total
    distribution used for sell-out probabilities (`catalog.forecast.window_total_moments`)."""
    from scipy import stats  # type: ignore[import-untyped,unused-ignore]

    inside = []
    for j in range(actual.shape[0]):
        total, variance = window_total_moments(forecast.mean[j, :days], float(forecast.dispersion[j]))
        observed = actual[j, :days].sum()
        if total <= 0:
            inside.append(observed == 0)
            continue
        if variance <= total * (1 + 1e-9):
            dist: stats.rv_discrete = stats.poisson(total)
        else:
            dist = stats.nbinom(total * total / (variance - total), total / variance)
        inside.append(dist.ppf(0.1) <= observed <= dist.ppf(0.9))
    return float(np.mean(inside))


@dataclass(frozen=True)
class ModelScore:
    model: str
    rmsse: float
    mase: float
    bias: float
    coverage80: float
    spl: dict[float, float]
    total_coverage80: float
    """80% coverage of each product's 28-day total (the sell-out probability's distribution)."""
    fit_seconds: float
    products: int
    """Products scored per origin."""

    @property
    def spl_mean(self) -> float:
        return float(np.mean(list(self.spl.values())))


def last_weeks_origins(history: DemandHistory, weeks: int = 8, horizon: int = HORIZON) -> list[int]:
    """Origins (days of training data) whose horizons tile the last `weeks` weeks: e.g. 8 weeks, 28 days → 2."""
    span = weeks * 7
    return list(range(history.days - span, history.days - horizon + 1, horizon))


def score(forecast: DemandForecast, actual: Array, train: Array) -> dict[str, Array | float]:
    """Per-product metrics of one forecast (rows aligned with `actual` and `train`)."""
    lo, hi = forecast.interval80()
    return {
        "rmsse": rmsse(actual, forecast.mean, train),
        "mase": mase(actual, forecast.mean, train),
        **{f"spl{tau}": scaled_pinball(actual, forecast.quantiles[tau], tau, train) for tau in SPL_TAUS},
        "coverage": coverage(actual, lo, hi),
        "bias_num": float(forecast.mean.sum() - actual.sum()),
        "bias_den": float(actual.sum()),
        "total_coverage": total_coverage(actual, forecast),
    }


def backtest(
    history: DemandHistory,
    forecasters: Sequence[Forecaster],
    origins: Sequence[int],
    products: Rows,
    horizon: int = HORIZON,
) -> list[ModelScore]:
    """Fit every forecaster at every origin on the data before it, score the `horizon` days after it."""
    rows = np.asarray(products, dtype=np.intp)
    results = []
    for forecaster in forecasters:
        parts: list[dict[str, Array | float]] = []
        seconds = 0.0
        scored = 0
        for origin in origins:
            train = history.until(origin)
            started = time.perf_counter()
            forecast = forecaster.forecast(train, horizon, rows)
            seconds += time.perf_counter() - started
            squared, absolute = naive_scales(train.units[rows])
            keep = (squared > 0) & (absolute > 0)
            scored = int(keep.sum())
            actual = history.units[rows, origin : origin + horizon][keep]
            parts.append(score(forecast.take(keep), actual, train.units[rows][keep]))

        def mean_of(key: str, parts: list[dict[str, Array | float]] = parts) -> float:
            return float(np.mean([np.mean(p[key]) for p in parts]))

        results.append(
            ModelScore(
                model=forecaster.name,
                rmsse=mean_of("rmsse"),
                mase=mean_of("mase"),
                bias=sum(float(p["bias_num"]) for p in parts) / max(sum(float(p["bias_den"]) for p in parts), 1e-9),
                coverage80=mean_of("coverage"),
                spl={tau: mean_of(f"spl{tau}") for tau in SPL_TAUS},
                total_coverage80=mean_of("total_coverage"),
                fit_seconds=seconds,
                products=scored,
            )
        )
    return results


def choose_model(scores: Sequence[ModelScore], baseline: str, exclude: Sequence[str] = ("zero",)) -> ModelScore:
    """The model with the lowest RMSSE/baseline RMSSE + mean SPL/baseline mean SPL (never by MASE: an all-zero
    forecast wins MASE on intermittent demand)."""
    base = next(s for s in scores if s.model == baseline)
    candidates = [s for s in scores if s.model not in exclude]
    return min(candidates, key=lambda s: s.rmsse / base.rmsse + s.spl_mean / base.spl_mean)
