"""Command line of the catalog: `python -m catalog build [--force]` and `python -m catalog report`.

`build` migrates the database named by DATABASE_URL and imports the Online Retail files from SHOP_DATA_DIR (skipped
when the same files were imported already); `report` prints what the last import read, kept and dropped.

Stock and forecasts (staff):
  forecast [--force] [--model M]        forecast daily demand 28 days ahead (skipped when nothing changed)
  stock simulate [--force]              load the SIMULATED stock of the reference store (see catalog.stock_simulation)
  stock load DIR [--as-of D] --actor A  load the store's stock.csv and replenishments.csv (see catalog.stock_files)
  stock status SKU                      one product's stock status in numbers and words
  stock adjust SKU DELTA --actor A --note TEXT   correct the stock on hand (recorded in the ledger)
  stock at-risk [--limit N]             products likely to sell out before their next delivery
  stock plot SKU --out FILE.png         sales history, forecast and 80% interval of one product
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from assistant.settings import SettingsError, load_settings
from catalog.attribute_store import derive_product_attributes, format_attributes_report
from catalog.db import make_engine, require_built
from catalog.errors import CatalogError
from catalog.ingest import ImportReport, import_online_retail, last_import
from catalog.migrate import upgrade

if TYPE_CHECKING:  # types only: the stock modules are imported when a stock command runs
    from catalog.inventory import LoadReport
    from catalog.stock import StockStatus

WIDTH = 46


def format_report(report: ImportReport) -> str:
    """A short human table of one import: rows read, dropped by reason, kept, table counts and time."""
    status = "skipped: these files are imported already" if report.skipped else "imported"
    rows: list[tuple[str, object]] = [("rows read", "")]
    rows += [(f"  {name}", n) for name, n in report.rows_read.items()]
    rows += [("rows dropped", sum(report.dropped.values()))]
    rows += [(f"  {reason}", n) for reason, n in report.dropped.items()]
    rows += [("rows kept (order lines)", report.counts.order_lines), ("catalog", "")]
    rows += [(f"  {name}", n) for name, n in vars(report.counts).items() if name != "order_lines"]
    lines = [f"Online Retail import ({status}), fingerprint {report.fingerprint[:12]}"]
    lines += [f"{label:<{WIDTH}}{value:>10,}" if value != "" else label for label, value in rows]
    top_codes = sorted(report.dropped_codes.items(), key=lambda item: -item[1])[:8]
    if top_codes:
        lines.append("  non-product codes: " + ", ".join(f"{code} {n:,}" for code, n in top_codes) + ", ...")
    lines.append(f"{'seconds':<{WIDTH}}{report.seconds:>10.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="migrate the catalog database and import the store's data")
    build.add_argument("--force", action="store_true", help="import again even if the same files were imported")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("report", help="print the report of the last import")
    _add_stock_commands(commands)
    args = parser.parse_args(argv)
    if args.command in ("forecast", "stock"):
        return _run_stock_command(args)
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            if args.command == "build":
                upgrade(engine)
                report = import_online_retail(engine, settings.shop_data_dir, force=args.force, progress=not args.quiet)
                attributes = derive_product_attributes(engine, force=args.force)
            else:
                require_built(engine)
                stored = last_import(engine)
                if stored is None:
                    print("nothing imported yet; run `python -m catalog build`", file=sys.stderr)
                    return 1
                report = stored
        finally:
            engine.dispose()
    except (CatalogError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "build":
        print(format_attributes_report(attributes))
    if args.command == "build" and report.skipped:
        print(
            f"catalog up to date: these files were imported already (fingerprint {report.fingerprint[:12]}); "
            "`python -m catalog report` shows the import, `build --force` imports again"
        )
    else:
        print(format_report(report))
    return 0


def _add_stock_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from catalog.forecast import DEFAULT_MODEL, ForecastModel

    forecast = commands.add_parser("forecast", help="forecast daily demand per product, 28 days ahead")
    forecast.add_argument("--force", action="store_true", help="forecast again even if nothing changed")
    forecast.add_argument(
        "--model", choices=[m.value for m in ForecastModel], default=DEFAULT_MODEL.value, help="default: %(default)s"
    )
    stock = commands.add_parser("stock", help="stock levels, deliveries and stock status (staff)")
    sub = stock.add_subparsers(dest="stock_command", required=True)
    simulate = sub.add_parser("simulate", help="load the simulated stock of the reference store")
    simulate.add_argument("--force", action="store_true", help="simulate again, even over stock loaded from files")
    load = sub.add_parser("load", help="load stock.csv (and replenishments.csv) from a folder")
    load.add_argument("folder", type=Path)
    load.add_argument("--as-of", type=date.fromisoformat, default=None, help="day the counts hold (default today)")
    load.add_argument("--actor", required=True, help="who loads the files")
    status = sub.add_parser("status", help="one product's stock status")
    status.add_argument("sku")
    adjust = sub.add_parser("adjust", help="correct the stock on hand of one product")
    adjust.add_argument("sku")
    adjust.add_argument("delta", type=int, help="units to add (negative: remove)")
    adjust.add_argument("--actor", required=True, help="who makes the change")
    adjust.add_argument("--note", required=True, help="why")
    at_risk = sub.add_parser("at-risk", help="products likely to sell out before their next delivery")
    at_risk.add_argument("--limit", type=int, default=20)
    plot = sub.add_parser("plot", help="plot sales history, forecast and interval of one product")
    plot.add_argument("sku")
    plot.add_argument("--out", type=Path, required=True)


def _run_stock_command(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            require_built(engine)
            upgrade(engine)
            print(_stock_command(args, engine))
        finally:
            engine.dispose()
    except (CatalogError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _stock_command(args: argparse.Namespace, engine: Engine) -> str:
    from catalog import inventory
    from catalog.forecast_store import make_forecasts
    from catalog.stock import StockService, describe
    from catalog.stock_files import read_stock_files
    from catalog.stock_simulation import simulate_stock

    if args.command == "forecast":
        run = make_forecasts(engine, args.model, force=args.force)
        state = "skipped: catalog and code unchanged" if run.skipped else "made"
        return (
            f"forecasts {state}: {run.products:,} products x {run.horizon_days} days from {run.first_day}, "
            f"model {run.model}, {run.seconds:.1f} s"
        )
    command = args.stock_command
    if command == "simulate":
        report = simulate_stock(engine, force=args.force)
        return format_load(report)
    if command == "load":
        levels, replenishments = read_stock_files(args.folder)
        report = inventory.load_stock(
            engine,
            levels,
            replenishments,
            source=inventory.StockSource.FILES,
            as_of=args.as_of or date.today(),
            actor=args.actor,
            reference=f"files:{args.folder.resolve()}",
        )
        return format_load(report)
    if command == "adjust":
        moved = inventory.adjust_stock(engine, args.sku, args.delta, args.actor, args.note)
        return f"{moved.sku}: {moved.delta:+d}, now {moved.on_hand_after} on hand (by {moved.actor}: {moved.note})"
    service = StockService(engine)
    if command == "status":
        s = service.status(args.sku)
        numbers = [
            f"state {s.state.value}",
            f"on hand {s.on_hand}",
            f"reorder point {s.reorder_point}",
            f"demand/day {s.daily_demand:.1f}" if s.daily_demand is not None else "no forecast",
            f"P(sell out before restock) {s.sellout_probability:.0%}" if s.sellout_probability is not None else "",
        ]
        return f"{s.sku} {s.title} (today {s.today})\n  " + ", ".join(n for n in numbers if n) + f"\n  {describe(s)}"
    if command == "at-risk":
        return format_at_risk(service.at_risk(args.limit))
    from catalog.stock_plot import plot_product

    return f"wrote {plot_product(engine, args.sku, args.out)}"


def format_load(report: LoadReport) -> str:
    state = "skipped: already loaded" if report.skipped else "loaded"
    return (
        f"stock {state} ({report.source.value}, as of {report.as_of}): {report.products:,} products, "
        f"{report.units:,} units, {report.out_of_stock:,} out of stock, {report.discontinued:,} discontinued, "
        f"{report.replenishments:,} deliveries expected, {report.movements:,} ledger entries"
    )


def format_at_risk(statuses: Sequence[StockStatus]) -> str:
    """One line per product: stock vs forecast demand until the next delivery, and the chance of selling out."""
    header = f"{'sku':<8} {'title':<34} {'on hand':>8} {'demand':>8} {'days':>5} {'P(out)':>7}  next delivery"
    lines = [header, "-" * len(header)]
    for s in statuses:
        restock = f"{s.next_restock.quantity} on {s.next_restock.expected_on}" if s.next_restock else "none"
        lines.append(
            f"{s.sku:<8} {s.title[:34]:<34} {s.on_hand:>8,} {s.window_demand or 0:>8.1f} {s.window_days or 0:>5} "
            f"{s.sellout_probability or 0:>7.0%}  {restock}"
        )
    if not statuses:
        lines.append("no product is likely to sell out before its next delivery")
    lines.append("demand: mean forecast units over the next `days` days (until the delivery, or the 28-day horizon)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
