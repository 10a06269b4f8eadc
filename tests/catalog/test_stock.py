"""Stock status from hand-made cases (edges included), its plain words, and the service on a small database."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from catalog.forecast_store import ForecastPath
from catalog.ingest import import_online_retail
from catalog.inventory import Replenishment, StockLevel, StockSource, UnknownProduct, load_stock
from catalog.stock import Restock, StockService, StockState, assess, describe

TODAY = date(2011, 11, 29)


def path(mean: list[float] | np.ndarray, dispersion: float | None = None, start: date = TODAY) -> ForecastPath:
    values = np.asarray(mean, dtype=float)
    days = tuple(start + timedelta(days=i) for i in range(len(values)))
    return ForecastPath("A", days, values, values * 0, values * 2, dispersion, "test_model")


def level(on_hand: int, reorder_point: int = 20, discontinued: bool = False) -> StockLevel:
    return StockLevel("A", on_hand, reorder_point, 14, discontinued)


DELIVERY = Restock(date(2011, 12, 3), 48)


def test_the_example_from_the_issue() -> None:
    # 3 a day with Poisson days plus level uncertainty: days 1..d total is geometric with p = 1 / (1 + 3d), so
    # P(sold out by day d) = (3d / (1 + 3d))^12, first ≥ 50% on day 6; the delivery is 4 days away.
    status = assess("A", "LUNCH BAG RED RETROSPOT", level(12), [DELIVERY], path([3.0] * 28), TODAY)
    assert status.state is StockState.LOW
    assert status.sellout_days == 6
    assert status.window_days == 4 and status.window_demand == pytest.approx(12.0)
    assert status.sellout_probability == pytest.approx((12 / 13) ** 12)
    assert status.days_of_cover == pytest.approx(4.0) and status.daily_demand == pytest.approx(3.0)
    assert not status.at_risk  # 38% < 50%
    assert (
        describe(status)
        == "12 left — at the current pace it usually sells out in about 6 days; 48 more arrive on 3 Dec."
    )


def test_in_stock_without_delivery_uses_the_whole_horizon_and_can_be_at_risk() -> None:
    status = assess("A", "T", level(30), [], path([3.0] * 28), TODAY)
    assert status.state is StockState.IN_STOCK and status.window_days == 28
    assert status.sellout_probability == pytest.approx((84 / 85) ** 30)
    assert status.at_risk and status.available
    assert describe(status).startswith("30 in stock — at the current pace it usually sells out in about")


def test_slow_seller_is_enough_for_the_horizon() -> None:
    status = assess("A", "T", level(500), [], path([0.5] * 28), TODAY)
    assert status.sellout_days is None and status.sellout_probability is not None
    assert status.sellout_probability < 0.1
    assert describe(status) == "500 in stock — enough for more than 4 weeks at the current pace."


def test_no_demand_and_no_forecast() -> None:
    still = assess("A", "T", level(40), [], path([0.0] * 28), TODAY)
    assert (still.sellout_probability, still.days_of_cover, still.sellout_days) == (0.0, None, None)
    assert describe(still) == "40 in stock."
    unforecast = assess("A", "T", level(40), [], None, TODAY)
    assert unforecast.daily_demand is None and unforecast.sellout_probability is None
    assert describe(unforecast) == "40 in stock."


def test_out_of_stock_with_and_without_a_date() -> None:
    status = assess("A", "T", level(0), [DELIVERY], path([1.0] * 28), TODAY)
    assert status.state is StockState.OUT_OF_STOCK and status.sellout_probability == 1.0 and not status.at_risk
    assert not status.available and status.next_restock == DELIVERY
    assert describe(status) == "Out of stock — 48 more arrive on 3 Dec."
    single = assess("A", "T", level(0), [Restock(date(2012, 1, 9), 1)], None, TODAY)
    assert describe(single) == "Out of stock — 1 more arrives on 9 Jan 2012."
    assert describe(assess("A", "T", level(0), [], None, TODAY)) == "Out of stock, and no restock date is set yet."


def test_discontinued_wins_over_everything_and_ignores_deliveries() -> None:
    status = assess("A", "T", level(3, discontinued=True), [DELIVERY], path([1.0] * 28), TODAY)
    assert status.state is StockState.DISCONTINUED and status.next_restock is None and not status.at_risk
    assert describe(status) == "Discontinued — 3 left, and no more are coming."
    gone = assess("A", "T", level(0, discontinued=True), [], None, TODAY)
    assert describe(gone) == "Discontinued and sold out; no more are coming."


def test_unknown_stock() -> None:
    status = assess("A", "T", None, [], path([1.0] * 28), TODAY)
    assert status.state is StockState.UNKNOWN and status.on_hand is None and not status.available
    assert describe(status) == "No stock information for this product."


def test_past_deliveries_and_past_forecast_days_are_ignored() -> None:
    late = Restock(TODAY - timedelta(days=1), 10)
    status = assess(
        "A", "T", level(12), [late, DELIVERY], path([100.0] * 3 + [3.0] * 28, start=TODAY - timedelta(3)), TODAY
    )
    assert status.next_restock == DELIVERY
    assert status.daily_demand == pytest.approx(3.0) and status.horizon_days == 28


def test_delivery_today_means_no_risk_window() -> None:
    status = assess("A", "T", level(5), [Restock(TODAY, 10)], path([3.0] * 28), TODAY)
    assert status.window_days == 0 and status.sellout_probability == 0.0


def test_reorder_point_edge() -> None:
    assert assess("A", "T", level(20, reorder_point=20), [], None, TODAY).state is StockState.LOW
    assert assess("A", "T", level(21, reorder_point=20), [], None, TODAY).state is StockState.IN_STOCK


# --- the service on the tiny store ------------------------------------------------------------------------------


@pytest.fixture
def service(sqlite_engine: Engine, tiny_store: Path) -> StockService:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    load_stock(
        sqlite_engine,
        [StockLevel("85123A", 2, 4, 14), StockLevel("20725", 0, 6, 7)],
        [Replenishment("20725", 48, date(2010, 12, 9)), Replenishment("20725", 12, date(2010, 12, 30))],
        source=StockSource.SIMULATED,
        as_of=date(2010, 12, 5),
        actor="tester",
        reference="test",
    )
    return StockService(sqlite_engine)


def test_service_answers_for_tracked_untracked_and_unknown_products(service: StockService) -> None:
    assert service.today() == date(2010, 12, 5)
    bag = service.status("20725")
    assert bag.state is StockState.OUT_OF_STOCK and bag.next_restock == Restock(date(2010, 12, 9), 48)
    assert bag.title == "LUNCH BAG RED RETROSPOT"
    assert service.status("85123A").state is StockState.LOW
    assert service.status("71053").state is StockState.UNKNOWN
    with pytest.raises(UnknownProduct, match="NOPE"):
        service.status("NOPE")
    found = service.statuses(["20725", "NOPE", "20725"])
    assert set(found) == {"20725"}


def test_service_uses_stored_forecasts(service: StockService, sqlite_engine: Engine) -> None:
    from catalog.forecast_store import make_forecasts

    run = make_forecasts(sqlite_engine, "tsb")
    assert run.first_day == date(2010, 12, 5) and run.products >= 2
    heart = service.status("85123A")
    assert heart.forecast_model == "tsb" and heart.daily_demand is not None and heart.daily_demand > 0
    assert heart.sellout_probability is not None and 0 < heart.sellout_probability <= 1
    assert [s.sku for s in service.at_risk()] == (["85123A"] if heart.at_risk else [])


def test_service_with_an_injected_clock(service: StockService, sqlite_engine: Engine) -> None:
    later = StockService(sqlite_engine, today=lambda: date(2010, 12, 10))
    assert later.status("20725").next_restock == Restock(date(2010, 12, 30), 12)  # the 9 Dec one is past


def test_available_and_discontinued_skus(sqlite_engine: Engine, tiny_store: Path) -> None:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    levels = [StockLevel("85123A", 2, 4, 14), StockLevel("20725", 0, 6, 7), StockLevel("71053", 9, 4, 14, True)]
    load_stock(
        sqlite_engine, levels, [], source=StockSource.SIMULATED, as_of=date(2010, 12, 5), actor="t", reference="t"
    )
    service = StockService(sqlite_engine)
    assert service.available_skus() == {"85123A"}  # 20725 has none on hand, 71053 is no longer sold
    assert service.discontinued_skus() == {"71053"}
