"""A staff plot of one product: recent daily sales, the demand forecast with its 80% interval, stock and deliveries."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from catalog.forecast_store import read_forecasts, sales_history
from catalog.stock import StockService, describe

HISTORY_DAYS = 120


def plot_product(engine: Engine, sku: str, out: Path, history_days: int = HISTORY_DAYS) -> Path:
    """Write a PNG for `sku` to `out`. Raises `UnknownProduct` for a SKU not in the catalog."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    status = StockService(engine).status(sku)
    days, units = sales_history(engine, sku, history_days)
    forecast = read_forecasts(engine, [sku], status.today).get(sku)
    figure, axis = plt.subplots(figsize=(11, 4.5), layout="constrained")
    try:
        axis.bar(np.array(days, dtype="datetime64[D]"), units, width=1.0, color="#9aa5b1", label="units sold per day")
        if forecast is not None:
            ahead = np.array(forecast.days, dtype="datetime64[D]")
            orange = "#d9822b"
            axis.fill_between(
                ahead, forecast.lo80, forecast.hi80, step="mid", alpha=0.25, color=orange, label="80% interval"
            )
            axis.step(ahead, forecast.mean, where="mid", color=orange, label=f"forecast ({forecast.model})")
        if status.next_restock is not None:
            restock = status.next_restock
            when = np.datetime64(restock.expected_on, "D")
            label = f"+{restock.quantity} arrive"
            axis.axvline(when, color="#2b8a3e", linestyle="--", label=label)  # type: ignore[arg-type]
        axis.axvline(np.datetime64(status.today, "D"), color="black", linewidth=0.8)  # type: ignore[arg-type]
        axis.set_title(f"{sku} {status.title}\n{describe(status)}", fontsize=10, loc="left")
        axis.set_ylabel("units")
        axis.legend(loc="upper left", fontsize=8)
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, dpi=110)
    finally:
        plt.close(figure)
    return out
