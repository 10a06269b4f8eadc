"""Product cards' stock badges: words first (the page adds colour), nothing when the stock is unknown."""

from __future__ import annotations

from datetime import date

import pytest

from actions.replies import stock_badge
from catalog.stock import StockState, StockStatus

TODAY = date(2011, 12, 9)


@pytest.mark.parametrize(
    ("state", "on_hand", "badge"),
    [
        (StockState.IN_STOCK, 40, {"level": "in", "label": "In stock"}),
        (StockState.LOW, 1, {"level": "low", "label": "Only 1 left"}),
        (StockState.LOW, 20, {"level": "low", "label": "Only 20 left"}),
        (StockState.LOW, 21, {"level": "low", "label": "Low stock"}),
        (StockState.OUT_OF_STOCK, 0, {"level": "out", "label": "Out of stock"}),
        (StockState.DISCONTINUED, 0, {"level": "out", "label": "No longer sold"}),
        (StockState.UNKNOWN, None, None),
    ],
)
def test_stock_badge(state: StockState, on_hand: int | None, badge: dict[str, str] | None) -> None:
    assert stock_badge(StockStatus("22386", "JUMBO BAG PINK POLKADOT", state, TODAY, on_hand=on_hand)) == badge


def test_no_status_no_badge() -> None:
    assert stock_badge(None) is None
