"""Forecasting on small synthetic series: exact seasonal naive, the negative-binomial head by hand, every model's
contract, store weekday profiles."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from catalog.forecast import (
    QUANTILES,
    DemandForecast,
    DemandHistory,
    ForecastModel,
    dispersion_from_history,
    make_forecaster,
    nb_quantiles,
    prob_running_total_at_least,
    prob_total_at_least,
    store_season_factors,
    store_weekday_profile,
)

PATTERN = np.array([5.0, 3.0, 0.0, 1.0, 2.0, 0.0, 4.0])


def weekly_history(days: int, products: int = 1) -> DemandHistory:
    units = np.tile(PATTERN, (products, days // 7 + 1))[:, :days]
    return DemandHistory(tuple(f"P{i}" for i in range(products)), date(2011, 1, 3), units)


@pytest.mark.parametrize("days", [70, 73])
def test_seasonal_naive_repeats_the_last_week_exactly(days: int) -> None:
    forecast = make_forecaster(ForecastModel.SEASONAL_NAIVE).forecast(weekly_history(days), horizon=28)
    expected = np.array([PATTERN[(days + h) % 7] for h in range(28)])
    np.testing.assert_allclose(forecast.mean[0], expected)
    assert forecast.first_day == date(2011, 1, 3) + timedelta(days=days)


def test_history_end_and_truncation() -> None:
    history = weekly_history(10)
    assert history.end == date(2011, 1, 12)
    assert history.until(7).end == date(2011, 1, 9) and history.until(7).units.shape == (1, 7)
    with pytest.raises(ValueError, match="shape"):
        DemandHistory(("A", "B"), date(2011, 1, 1), np.zeros((1, 3)))


def test_dispersion_by_moments() -> None:
    k = dispersion_from_history(np.array([[0.0, 2.0, 0.0, 2.0], [0.0, 0.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0]]))
    assert np.isinf(k[0])  # mean 1, variance 1: Poisson
    assert k[1] == pytest.approx(0.5)  # mean 1, variance 3: 1 / (3 - 1)
    assert np.isinf(k[2])


def test_negative_binomial_quantiles_by_hand() -> None:
    # mean 4, size 1 is geometric with p = 1/5: P(X <= x) = 1 - 0.8^(x+1)
    q = nb_quantiles(np.array([[4.0, 0.0]]), np.array([1.0]))
    assert [q[tau][0, 0] for tau in QUANTILES] == [0, 3, 7, 10, 13]
    assert all(q[tau][0, 1] == 0 for tau in QUANTILES)  # no demand, no quantile
    poisson = nb_quantiles(np.array([[2.0]]), np.array([np.inf]), taus=(0.5,))
    assert poisson[0.5][0, 0] == 2


def test_interval_starts_at_zero_with_the_80_percent_quantile_when_q10_is_zero() -> None:
    mean = np.array([[4.0], [400.0]])
    dispersion = np.array([1.0, 50.0])
    forecast = DemandForecast(("A", "B"), date(2011, 1, 1), mean, nb_quantiles(mean, dispersion), dispersion, "m")
    lo, hi = forecast.interval80()
    assert (lo[0, 0], hi[0, 0]) == (0, 7)  # geometric above: [0, q80]
    assert lo[1, 0] > 0 and hi[1, 0] == forecast.quantiles[0.9][1, 0]  # central [q10, q90]


def test_window_total_probability_by_hand() -> None:
    # 4 Poisson days of mean 1 plus level uncertainty: mean 4, variance 4 + 16 → geometric, p = 0.2
    assert prob_total_at_least(np.ones(4), None, 3) == pytest.approx(0.8**3)
    assert prob_total_at_least(np.ones(4), None, 0) == 1.0
    assert prob_total_at_least(np.zeros(4), None, 1) == 0.0
    running = prob_running_total_at_least(np.ones(6), 2.0, 5)
    assert np.all(np.diff(running) > 0) and running[-1] == pytest.approx(prob_total_at_least(np.ones(6), 2.0, 5))


def test_store_weekday_profile_and_season_factors() -> None:
    units = np.tile([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0], (2, 12))
    profile = store_weekday_profile(units)
    assert profile[6] == 0 and profile.mean() == pytest.approx(1.0)
    assert np.all(store_season_factors(units, 28) == 1.0)  # under a year of data: no seasonal change
    year = np.ones((1, 364 + 28))
    year[0, 28:56] = 2.0  # a year before the horizon the store sold twice what it sold in the 28 days before
    factors = store_season_factors(year, 28)
    assert factors[3] == pytest.approx(2.0) and factors[0] == pytest.approx((3 + 4 * 2) / 7)


@pytest.mark.parametrize("model", list(ForecastModel))
def test_every_model_keeps_the_contract(model: ForecastModel) -> None:
    rng = np.random.default_rng(1)
    days = 420
    weekly = np.tile([1.0, 1.0, 1.2, 1.0, 0.8, 0.0, 0.6], days // 7)
    units = rng.poisson(weekly * rng.uniform(0.2, 3.0, size=(40, 1))).astype(float)
    units[5] = 0.0  # never sold
    history = DemandHistory(tuple(f"P{i}" for i in range(40)), date(2010, 1, 4), units)
    forecast = make_forecaster(model).forecast(history, horizon=14, rows=[0, 5, 7])
    assert forecast.skus == ("P0", "P5", "P7") and forecast.model == model.value
    assert forecast.mean.shape == (3, 14) and np.all(forecast.mean >= 0) and np.all(np.isfinite(forecast.mean))
    assert np.all(forecast.mean[1] == 0)
    stacked = np.stack([forecast.quantiles[tau] for tau in QUANTILES])
    assert np.all(np.diff(stacked, axis=0) >= -1e-9) and np.all(stacked >= 0)
    lo, hi = forecast.interval80()
    assert np.all(lo <= hi)
    if model is not ForecastModel.ZERO:
        assert forecast.mean[0].sum() > 0
    if model in (ForecastModel.TSB_WEEKDAY, ForecastModel.TSB_SEASONAL):
        saturday = (days + np.arange(14)) % 7 == 5
        assert np.all(forecast.mean[0, saturday] == 0)  # the store never sells on that weekday
