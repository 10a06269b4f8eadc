"""The store's own stock files, read into `catalog.inventory` values (loaded with `python -m catalog stock load DIR`).

UTF-8 CSV with a header row; extra columns are ignored, SKUs are upper-cased:

    stock.csv           sku,on_hand,reorder_point,lead_time_days[,discontinued]
                        e.g. 85123A,120,40,14,false  (discontinued: true/false/1/0/yes/no, default false)
    replenishments.csv  sku,quantity,expected_date          (optional file)
                        e.g. 85123A,96,2011-11-14  (ISO date, not before the load's as-of day)

Every bad line is reported (file:line: problem), not just the first; ranges and SKUs are checked by
`catalog.inventory.load_stock`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path

from catalog.inventory import InvalidStockFile, Replenishment, StockLevel

STOCK_FILE = "stock.csv"
REPLENISHMENTS_FILE = "replenishments.csv"
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}


def read_stock_files(folder: Path) -> tuple[list[StockLevel], list[Replenishment]]:
    """Read `stock.csv` and (if present) `replenishments.csv` from `folder`; see the module doc for the format.
    Raises `InvalidStockFile` listing every bad line."""
    stock_path = folder / STOCK_FILE
    if not stock_path.is_file():
        raise InvalidStockFile(f"{stock_path} not found; expected columns sku,on_hand,reorder_point,lead_time_days")
    problems: list[str] = []
    levels = [
        StockLevel(
            sku=row["sku"],
            on_hand=_int_cell(row, "on_hand", problems, where),
            reorder_point=_int_cell(row, "reorder_point", problems, where),
            lead_time_days=_int_cell(row, "lead_time_days", problems, where),
            discontinued=_bool_cell(row, "discontinued", problems, where),
        )
        for row, where in _rows(stock_path, ("sku", "on_hand", "reorder_point", "lead_time_days"), problems)
    ]
    replenishments: list[Replenishment] = []
    path = folder / REPLENISHMENTS_FILE
    if path.is_file():
        for row, where in _rows(path, ("sku", "quantity", "expected_date"), problems):
            try:
                expected = date.fromisoformat(row["expected_date"].strip())
            except ValueError:
                problems.append(f"{where}: expected_date {row['expected_date']!r} is not a date like 2011-11-14")
                continue
            replenishments.append(Replenishment(row["sku"], _int_cell(row, "quantity", problems, where), expected))
    if problems:
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InvalidStockFile("bad stock files:\n  " + "\n  ".join(problems[:20]) + more)
    return levels, replenishments


def _rows(path: Path, required: Sequence[str], problems: list[str]) -> Iterable[tuple[dict[str, str], str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                expected = ", ".join(required)
                raise InvalidStockFile(f"{path}: missing column(s) {', '.join(missing)}; expected {expected}")
            for line, row in enumerate(reader, start=2):
                row = {k: (v or "").strip() for k, v in row.items() if k is not None}
                if not row.get("sku"):
                    problems.append(f"{path.name}:{line}: empty sku")
                    continue
                row["sku"] = row["sku"].upper()
                yield row, f"{path.name}:{line}"
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidStockFile(f"cannot read {path}: {exc}") from exc


def _int_cell(row: Mapping[str, str], name: str, problems: list[str], where: str) -> int:
    raw = row.get(name, "")
    try:
        return int(raw)
    except ValueError:
        problems.append(f"{where}: {name} {raw!r} is not a whole number")
        return 0


def _bool_cell(row: Mapping[str, str], name: str, problems: list[str], where: str) -> bool:
    raw = row.get(name, "").lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(f"{where}: {name} {raw!r} is not true/false")
    return False
