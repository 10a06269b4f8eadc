"""Command line of the catalog: `python -m catalog build [--force]` and `python -m catalog report`.

`build` migrates the database named by DATABASE_URL and imports the Online Retail files from SHOP_DATA_DIR (skipped
when the same files were imported already); `report` prints what the last import read, kept and dropped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from assistant.settings import SettingsError, load_settings
from catalog.db import make_engine, require_built
from catalog.errors import CatalogError
from catalog.ingest import ImportReport, import_online_retail, last_import
from catalog.migrate import upgrade

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
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url)
        try:
            if args.command == "build":
                upgrade(engine)
                report = import_online_retail(engine, settings.shop_data_dir, force=args.force, progress=not args.quiet)
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
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
