"""Deriving and storing product attributes: `derive_product_attributes(engine)`, run by `python -m catalog build`.

Idempotent: the run's fingerprint (the rules' source + every SKU and title) is kept in `import_runs` under the source
`product_attributes`; an equal fingerprint skips the work, a changed catalog or rule set replaces every row.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from catalog import attributes
from catalog.attributes import ATTRIBUTES_VERSION, derive_attributes
from catalog.errors import CatalogUnavailable
from catalog.models import ImportRunRow, ProductAttributesRow, ProductRow

SOURCE = "product_attributes"


@dataclass(frozen=True)
class AttributesReport:
    products: int
    per_category: dict[str, int]
    seconds: float
    skipped: bool


def _fingerprint(rows: list[tuple[str, str]]) -> str:
    """Digest of the rules (their module's source) and every SKU and title: any change derives everything again."""
    digest = hashlib.sha256(f"attributes v{ATTRIBUTES_VERSION}\n".encode())
    digest.update(Path(attributes.__file__).read_bytes())
    for sku, title in rows:
        digest.update(f"{sku}\t{title}\n".encode())
    return digest.hexdigest()


def derive_product_attributes(engine: Engine, force: bool = False) -> AttributesReport:
    """Derive every product's attributes from its title and store them, unless titles and rules are unchanged."""
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            rows = [(sku, title) for sku, title in conn.execute(select(ProductRow.stock_code, ProductRow.title))]
            rows.sort()
            fingerprint = _fingerprint(rows)
            previous = conn.execute(select(ImportRunRow).where(ImportRunRow.source == SOURCE)).first()
            if previous is not None and previous.fingerprint == fingerprint and not force:
                stored = json.loads(previous.report)
                return AttributesReport(
                    products=stored["products"],
                    per_category=stored["per_category"],
                    seconds=time.perf_counter() - started,
                    skipped=True,
                )
            values = []
            for sku, title in rows:
                a = derive_attributes(title)
                values.append(
                    {
                        "sku": sku,
                        "category": a.category.value,
                        "subcategory": a.subcategory,
                        "colours": ",".join(a.colours),
                        "patterns": ",".join(a.patterns),
                        "materials": ",".join(a.materials),
                    }
                )
            per_category = dict(Counter(v["category"] for v in values).most_common())
            conn.execute(delete(ProductAttributesRow))
            if values:
                conn.execute(insert(ProductAttributesRow), values)
            report = {"products": len(values), "per_category": per_category, "version": ATTRIBUTES_VERSION}
            conn.execute(delete(ImportRunRow).where(ImportRunRow.source == SOURCE))
            conn.execute(
                insert(ImportRunRow).values(
                    source=SOURCE,
                    fingerprint=fingerprint,
                    imported_at=datetime.now(UTC).replace(tzinfo=None),
                    report=json.dumps(report),
                )
            )
    except SQLAlchemyError as exc:
        raise CatalogUnavailable(f"deriving product attributes in {engine.url!r} failed: {exc}") from exc
    return AttributesReport(len(values), per_category, time.perf_counter() - started, skipped=False)


def format_attributes_report(report: AttributesReport) -> str:
    state = "up to date" if report.skipped else f"derived in {report.seconds:.1f} s"
    top = ", ".join(f"{name} {n:,}" for name, n in list(report.per_category.items())[:6])
    return f"product attributes {state}: {report.products:,} products ({top}, ...)"
