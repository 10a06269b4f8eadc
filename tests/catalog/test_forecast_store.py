"""Stored forecasts: the sales history read from the catalog, runs skipped when nothing changed, the full store
forecast within the time budget."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from catalog.forecast import DEFAULT_MODEL, HORIZON, ForecastNotBuilt
from catalog.forecast_store import forecast_count, last_run, load_history, make_forecasts, read_forecasts
from catalog.ingest import import_online_retail
from tests.catalog.conftest import Imported


@pytest.fixture
def imported(sqlite_engine: Engine, tiny_store: Path) -> Engine:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    return sqlite_engine


def test_history_is_a_dense_product_by_day_matrix(imported: Engine) -> None:
    history = load_history(imported)
    assert history.start == date(2009, 12, 1) and history.end == date(2010, 12, 4)
    heart = history.skus.index("85123A")
    assert history.units[heart, 0] == 12  # scanned twice on the first day, both lines kept
    assert history.units[heart, 1] == 0  # the cancellation is not demand
    assert history.units.shape == (len(history.skus), 369)


def test_empty_catalog_has_nothing_to_forecast(sqlite_engine: Engine) -> None:
    with pytest.raises(ForecastNotBuilt, match="catalog build"):
        make_forecasts(sqlite_engine)


def test_forecast_runs_are_skipped_until_something_changes(imported: Engine) -> None:
    first = make_forecasts(imported, "tsb")
    assert not first.skipped and first.first_day == date(2010, 12, 5) and first.model == "tsb"
    assert forecast_count(imported) == first.products * HORIZON
    assert make_forecasts(imported, "tsb").skipped
    assert not make_forecasts(imported, "tsb", force=True).skipped
    other = make_forecasts(imported, "tsb_weekday")
    assert not other.skipped and other.fingerprint != first.fingerprint
    assert last_run(imported) == other
    paths = read_forecasts(imported, ["20725", "NOPE"], date(2010, 12, 5))
    assert set(paths) == {"20725"}
    bag = paths["20725"]
    assert len(bag.days) == HORIZON and bag.model == "tsb_weekday"
    assert np.all(bag.lo80 <= bag.hi80) and np.all(bag.mean >= 0)
    assert len(read_forecasts(imported, None, date(2010, 12, 20))["20725"].days) == HORIZON - 15


@pytest.mark.slow
def test_full_store_forecast(full_sqlite: Imported) -> None:
    run = make_forecasts(full_sqlite.engine, DEFAULT_MODEL, force=True)
    assert run.first_day == date(2011, 11, 1) and 3500 < run.products < 4000
    paths = read_forecasts(full_sqlite.engine, ["85123A"], run.first_day)
    heart = paths["85123A"]
    assert heart.mean.sum() > 100  # a best seller
    saturdays = [i for i, day in enumerate(heart.days) if day.weekday() == 5]
    assert np.all(heart.mean[saturdays] < 0.05 * heart.mean.max())  # the store hardly trades on Saturdays
