"""Forecast metrics against hand-computed examples, and the backtest's bookkeeping."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from catalog.forecast import DemandForecast, DemandHistory, ForecastModel, make_forecaster
from catalog.forecast_eval import (
    ModelScore,
    backtest,
    bias,
    choose_model,
    coverage,
    last_weeks_origins,
    mase,
    naive_scales,
    pinball,
    rmsse,
    scaled_pinball,
)

# Since its first sale the training series is 1, 3, 2: one-step changes +2, -1 → mean square 2.5, mean |.| 1.5.
TRAIN = np.array([[0.0, 0.0, 1.0, 3.0, 2.0]])
ACTUAL = np.array([[1.0, 2.0]])


def test_scales_start_at_the_first_sale() -> None:
    squared, absolute = naive_scales(TRAIN)
    assert squared[0] == pytest.approx(2.5) and absolute[0] == pytest.approx(1.5)
    squared, absolute = naive_scales(np.array([[0.0, 0.0, 0.0, 4.0]]))  # one day since the first sale
    assert np.isnan(squared[0]) and np.isnan(absolute[0])


def test_rmsse_and_mase_by_hand() -> None:
    forecast = np.array([[2.0, 2.0]])  # errors -1, 0
    assert rmsse(ACTUAL, forecast, TRAIN)[0] == pytest.approx(np.sqrt(0.5 / 2.5))
    assert mase(ACTUAL, forecast, TRAIN)[0] == pytest.approx(0.5 / 1.5)


def test_pinball_by_hand() -> None:
    assert pinball(np.array([1.0]), np.array([2.0]), 0.8)[0] == pytest.approx(0.2)  # over: (1 - 0.8) * 1
    assert pinball(np.array([5.0]), np.array([2.0]), 0.8)[0] == pytest.approx(2.4)  # under: 0.8 * 3
    assert scaled_pinball(ACTUAL, np.array([[2.0, 2.0]]), 0.8, TRAIN)[0] == pytest.approx(0.1 / 1.5)
    assert scaled_pinball(ACTUAL, np.array([[0.0, 3.0]]), 0.5, TRAIN)[0] == pytest.approx(0.5 / 1.5)


def test_coverage_and_bias_by_hand() -> None:
    assert coverage(ACTUAL, np.array([[0.0, 3.0]]), np.array([[1.0, 4.0]])) == pytest.approx(0.5)
    assert bias(ACTUAL, np.array([[2.0, 2.0]])) == pytest.approx(1 / 3)
    assert np.isnan(bias(np.zeros((1, 2)), np.ones((1, 2))))


def test_origins_tile_the_last_weeks() -> None:
    history = DemandHistory(("A",), date(2011, 1, 1), np.zeros((1, 100)))
    assert last_weeks_origins(history, weeks=8, horizon=28) == [44, 72]
    assert last_weeks_origins(history, weeks=4, horizon=7) == [72, 79, 86, 93]


def _score(model: str, rmsse: float, spl: float, mase: float = 1.0) -> ModelScore:
    return ModelScore(model, rmsse, mase, 0.0, 0.8, {0.5: spl, 0.8: spl, 0.95: spl}, 0.8, 0.0, 10)


def test_choice_ignores_the_zero_reference_and_mase() -> None:
    scores = [
        _score("seasonal_naive", 1.0, 1.0),
        _score("zero", 0.1, 0.1, mase=0.01),  # best everywhere, never chosen
        _score("a", 0.8, 0.9, mase=5.0),
        _score("b", 0.85, 0.7, mase=0.5),
    ]
    assert choose_model(scores, "seasonal_naive").model == "b"  # 0.85 + 0.7 < 0.8 + 0.9


def test_backtest_scores_a_perfect_forecaster_perfectly() -> None:
    pattern = np.array([5.0, 3.0, 0.0, 1.0, 2.0, 0.0, 4.0])
    units = np.tile(pattern, (3, 20))
    history = DemandHistory(("A", "B", "C"), date(2011, 1, 3), units)
    [naive, zero] = backtest(
        history,
        [make_forecaster(ForecastModel.SEASONAL_NAIVE), make_forecaster(ForecastModel.ZERO)],
        origins=[112, 126],
        products=[0, 2],
        horizon=14,
    )
    assert naive.rmsse == pytest.approx(0.0, abs=1e-9) and naive.mase == pytest.approx(0.0, abs=1e-9)
    assert naive.bias == pytest.approx(0.0, abs=1e-9) and naive.products == 2
    assert zero.bias == pytest.approx(-1.0) and zero.rmsse > 0.5


def test_forecast_take_keeps_rows_aligned() -> None:
    forecast = DemandForecast(
        skus=("A", "B"),
        first_day=date(2011, 1, 1),
        mean=np.array([[1.0], [2.0]]),
        quantiles={0.1: np.array([[0.0], [1.0]])},
        dispersion=np.array([np.inf, 3.0]),
        model="m",
    )
    taken = forecast.take(np.array([False, True]))
    assert taken.skus == ("B",) and taken.mean.tolist() == [[2.0]] and taken.dispersion.tolist() == [3.0]
