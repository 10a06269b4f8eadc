"""Deriving and storing product attributes: `derive_product_attributes(engine)`, run by `python -m catalog build`.

Idempotent: the run's fingerprint (the rules' source + every SKU and title) is kept in `import_runs` under the source
`product_attributes`; an equal fingerprint skips the work, a changed catalog or rule set replaces every row.
With `embed` (a title encoder, given by `python -m retrieval build`), titles the rules leave in "other" are decided by
a nearest-neighbour vote (`catalog.attributes.vote_other_categories`); the stored report remembers whether the vote
ran, so a later run without an encoder (`python -m catalog build`) keeps the voted rows instead of undoing them, and a
run with one on rule-only rows derives them again with the vote.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from catalog import attributes
from catalog.attributes import ATTRIBUTES_VERSION, derive_attributes, vote_other_categories
from catalog.errors import CatalogUnavailable
from catalog.models import ImportRunRow, ProductAttributesRow, ProductRow

SOURCE = "product_attributes"

TitleEncoder = Callable[[Sequence[str]], npt.NDArray[np.float32]]
"""Titles → unit-length vectors, one row per title (e.g. MiniLM in `python -m retrieval build`)."""


@dataclass(frozen=True)
class AttributesReport:
    products: int
    per_category: dict[str, int]
    seconds: float
    skipped: bool
    voted: int = 0
    """Products the rules left in "other" that the nearest-neighbour vote put in a category (0 without `embed`)."""


def _fingerprint(rows: list[tuple[str, str]]) -> str:
    """Digest of the rules (their module's source) and every SKU and title: any change derives everything again."""
    digest = hashlib.sha256(f"attributes v{ATTRIBUTES_VERSION}\n".encode())
    digest.update(Path(attributes.__file__).read_bytes())
    for sku, title in rows:
        digest.update(f"{sku}\t{title}\n".encode())
    return digest.hexdigest()


def derive_product_attributes(
    engine: Engine, force: bool = False, embed: TitleEncoder | None = None
) -> AttributesReport:
    """Derive every product's attributes from its title and store them, unless titles and rules are unchanged.

    `embed` adds the nearest-neighbour vote for titles the rules leave in "other" (module doc).
    """
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            rows = [(sku, title) for sku, title in conn.execute(select(ProductRow.stock_code, ProductRow.title))]
            rows.sort()
            fingerprint = _fingerprint(rows)
            previous = conn.execute(select(ImportRunRow).where(ImportRunRow.source == SOURCE)).first()
            stored = json.loads(previous.report) if previous is not None else {}
            unchanged = previous is not None and previous.fingerprint == fingerprint and not force
            if unchanged and (embed is None or "voted" in stored):
                return AttributesReport(
                    products=stored["products"],
                    per_category=stored["per_category"],
                    seconds=time.perf_counter() - started,
                    skipped=True,
                    voted=int(stored.get("voted", 0)),
                )
            derived = [derive_attributes(title) for _, title in rows]
            ruled = [(a.category, a.subcategory) for a in derived]
            categories = ruled
            if embed is not None and rows:
                vectors = np.asarray(embed([title for _, title in rows]), dtype=np.float32)
                categories = vote_other_categories(ruled, vectors)
            voted = sum(after != before for after, before in zip(categories, ruled, strict=True))
            values = []
            for (sku, _), a, (category, subcategory) in zip(rows, derived, categories, strict=True):
                values.append(
                    {
                        "sku": sku,
                        "category": category.value,
                        "subcategory": subcategory,
                        "colours": ",".join(a.colours),
                        "patterns": ",".join(a.patterns),
                        "materials": ",".join(a.materials),
                    }
                )
            per_category = dict(Counter(v["category"] for v in values).most_common())
            conn.execute(delete(ProductAttributesRow))
            if values:
                conn.execute(insert(ProductAttributesRow), values)
            report: dict[str, object] = {
                "products": len(values),
                "per_category": per_category,
                "version": ATTRIBUTES_VERSION,
            }
            if embed is not None:
                report["voted"] = voted
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
    return AttributesReport(len(values), per_category, time.perf_counter() - started, skipped=False, voted=voted)


def format_attributes_report(report: AttributesReport) -> str:
    state = "up to date" if report.skipped else f"derived in {report.seconds:.1f} s"
    top = ", ".join(f"{name} {n:,}" for name, n in list(report.per_category.items())[:6])
    vote = f"; {report.voted} titles the rules left in 'other' categorised by their neighbours" if report.voted else ""
    return f"product attributes {state}: {report.products:,} products ({top}, ...){vote}"
