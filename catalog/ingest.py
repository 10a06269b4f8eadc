"""Importing the reference store (UCI Online Retail) into the catalog database, idempotently.

The import is keyed by a fingerprint: sha256 of the source files' bytes and `INGEST_VERSION`. When `import_runs`
already holds that fingerprint the import is skipped; otherwise (or with `force`) the imported tables' content is
replaced in one transaction, so readers see either the previous catalog or the new one. The cleaning rules are in
`catalog.online_retail`; re-importing the same files gives identical tables (deterministic ids).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from catalog.bulk import replace_tables
from catalog.db import require_built
from catalog.errors import CatalogUnavailable
from catalog.models import Base, ImportRunRow
from catalog.online_retail import CatalogTables, build_tables, clean_lines, find_source_files, read_lines

INGEST_VERSION = "1"
"""Part of the fingerprint: bump it when the cleaning rules change, so unchanged files are imported again."""
SOURCE = "online_retail"
TABLES = ("products", "customers", "orders", "order_lines", "daily_sales")
"""The imported tables, parents first."""


@dataclass(frozen=True)
class ImportCounts:
    """Rows kept per table, and two counts of interest among the orders."""

    products: int
    customers: int
    orders: int
    cancellations: int
    guest_orders: int
    order_lines: int
    daily_sales: int


@dataclass(frozen=True)
class ImportReport:
    """What an import read, kept and dropped. A skipped import reports the counts of the stored import."""

    fingerprint: str
    skipped: bool
    rows_read: Mapping[str, int]
    """Source file name → lines read."""
    counts: ImportCounts
    dropped: Mapping[str, int]
    """Drop reason → lines (see `catalog.online_retail`)."""
    dropped_codes: Mapping[str, int]
    """Non-product StockCode → lines dropped."""
    seconds: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> ImportReport:
        data = json.loads(raw)
        return cls(**{**data, "counts": ImportCounts(**data["counts"])})


def fingerprint_files(files: Mapping[str, Path]) -> str:
    """sha256 over `INGEST_VERSION` and each file's kind and bytes (not its name or date)."""
    digest = hashlib.sha256(f"{SOURCE}:{INGEST_VERSION}".encode())
    for kind in sorted(files):
        digest.update(f"\n{kind}\n".encode())
        with files[kind].open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def last_import(engine: Engine) -> ImportReport | None:
    """The report stored by the last import, or None when nothing was imported yet."""
    try:
        with engine.connect() as conn:
            raw = conn.scalar(select(ImportRunRow.report).where(ImportRunRow.source == SOURCE))
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"reading the import report failed: {exc}") from exc
    return ImportReport.from_json(raw) if raw else None


def import_online_retail(
    engine: Engine, data_dir: Path | str, force: bool = False, progress: bool = True
) -> ImportReport:
    """Import the Online Retail files in `data_dir` unless the same files were imported already (`force` re-imports).

    Raises `DataNotFound` (with where to get the files), `CatalogNotBuilt` (not migrated) or `CatalogUnavailable`.
    """
    started = time.perf_counter()
    files = find_source_files(Path(data_dir))
    fingerprint = fingerprint_files(files)
    require_built(engine)
    previous = last_import(engine)
    if previous is not None and previous.fingerprint == fingerprint and not force:
        return replace(previous, skipped=True, seconds=round(time.perf_counter() - started, 3))

    lines = read_lines(files)
    per_kind = lines["source"].value_counts()
    rows_read = {path.name: int(per_kind.get(kind, 0)) for kind, path in files.items()}
    clean = clean_lines(lines)
    tables = build_tables(clean.lines)
    counts = _counts(tables)
    try:
        with engine.begin() as conn:
            contents = [(Base.metadata.tables[name], getattr(tables, name)) for name in TABLES]
            total = sum(len(frame) for _, frame in contents)
            with tqdm(total=total, unit="rows", desc="writing catalog", disable=not progress) as bar:
                replace_tables(conn, contents, bar.update)
            report = ImportReport(
                fingerprint=fingerprint,
                skipped=False,
                rows_read=rows_read,
                counts=counts,
                dropped=clean.dropped,
                dropped_codes=clean.dropped_codes,
                seconds=round(time.perf_counter() - started, 3),
            )
            conn.execute(delete(ImportRunRow).where(ImportRunRow.source == SOURCE))
            conn.execute(
                insert(ImportRunRow).values(
                    source=SOURCE,
                    fingerprint=fingerprint,
                    imported_at=datetime.now(timezone.utc).replace(tzinfo=None),
                    report=report.to_json(),
                )
            )
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"writing the catalog to {engine.url!r} failed: {exc}") from exc
    return report


def _counts(tables: CatalogTables) -> ImportCounts:
    return ImportCounts(
        products=len(tables.products),
        customers=len(tables.customers),
        orders=len(tables.orders),
        cancellations=int(tables.orders["is_cancellation"].sum()),
        guest_orders=int(tables.orders["customer_id"].isna().sum()),
        order_lines=len(tables.order_lines),
        daily_sales=len(tables.daily_sales),
    )
