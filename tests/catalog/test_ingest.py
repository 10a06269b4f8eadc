"""Importing into SQLite: the tiny hand-made store (fast) and the full reference store (slow, imported once)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select, text

from catalog import ingest
from catalog.db import make_engine
from catalog.errors import CatalogNotBuilt, CatalogUnavailable, DataNotFound
from catalog.ingest import ImportReport, import_online_retail, last_import
from catalog.models import ImportRunRow, OrderRow, ProductRow
from catalog.online_retail import PRODUCT_CODE_PATTERN, SERVICE_ITEM_CODES
from catalog.repository import SqlProductRepository
from tests.catalog.conftest import HEART, CountWatcher, Imported, failing_build, table_checksums, table_counts

# --- the tiny store -------------------------------------------------------------------------------------------------


def test_tiny_import_writes_every_table(sqlite_engine: Engine, tiny_store: Path) -> None:
    report = import_online_retail(sqlite_engine, tiny_store, progress=False)
    assert not report.skipped
    assert report.rows_read == {"ii.parquet": 11, "i.parquet": 8}
    assert report.dropped == {"overlap": 2, "non_product": 2, "stock_adjustment": 1, "price_not_positive": 1}
    assert report.dropped_codes == {"B": 1, "POST": 1}
    assert sum(report.rows_read.values()) == report.counts.order_lines + sum(report.dropped.values())
    assert table_counts(sqlite_engine) == {
        "products": 5,
        "customers": 3,
        "orders": 9,
        "order_lines": 13,
        "daily_sales": 12,
    }
    assert (report.counts.cancellations, report.counts.guest_orders) == (1, 2)
    with sqlite_engine.connect() as conn:
        invoiced_at, customer = conn.execute(
            text("SELECT invoiced_at, customer_id FROM orders WHERE invoice_no = '536367'")
        ).one()
    assert customer is None
    assert str(invoiced_at).startswith("2010-12-01 08:34:00")


def test_tiny_import_reads_back_through_the_repository(sqlite_engine: Engine, tiny_store: Path) -> None:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    product = SqlProductRepository(sqlite_engine).get_by_sku("85123A")
    assert product is not None
    assert (product.id, product.title, product.price) == (4, HEART, Decimal("2.55"))


def test_second_import_is_skipped_and_force_rebuilds_identically(sqlite_engine: Engine, tiny_store: Path) -> None:
    first = import_online_retail(sqlite_engine, tiny_store, progress=False)
    before = table_checksums(sqlite_engine)
    second = import_online_retail(sqlite_engine, tiny_store, progress=False)
    assert second.skipped and second.fingerprint == first.fingerprint and second.counts == first.counts
    assert table_checksums(sqlite_engine) == before
    forced = import_online_retail(sqlite_engine, tiny_store, force=True, progress=False)
    assert not forced.skipped
    assert table_checksums(sqlite_engine) == before


def test_changed_files_are_imported_again(sqlite_engine: Engine, tiny_store: Path) -> None:
    first = import_online_retail(sqlite_engine, tiny_store, progress=False)
    frame = pd.read_parquet(tiny_store / "i.parquet")
    frame.loc[len(frame)] = [536371, "22633", "HAND WARMER UNION JACK", 1, "2010-12-05 09:00:00", 1.85, 0.0, "EIRE"]
    frame.to_parquet(tiny_store / "i.parquet", index=False)
    second = import_online_retail(sqlite_engine, tiny_store, progress=False)
    assert not second.skipped and second.fingerprint != first.fingerprint
    assert table_counts(sqlite_engine)["orders"] == first.counts.orders + 1


def test_failed_import_leaves_the_previous_catalog(
    sqlite_engine: Engine, tiny_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = import_online_retail(sqlite_engine, tiny_store, progress=False)
    before = table_checksums(sqlite_engine)
    monkeypatch.setattr(ingest, "build_tables", failing_build(ingest.build_tables))
    with pytest.raises(CatalogUnavailable):
        import_online_retail(sqlite_engine, tiny_store, force=True, progress=False)
    assert table_checksums(sqlite_engine) == before
    assert last_import(sqlite_engine) == first


def test_stored_report_round_trips(sqlite_engine: Engine, tiny_store: Path) -> None:
    assert last_import(sqlite_engine) is None
    report = import_online_retail(sqlite_engine, tiny_store, progress=False)
    assert last_import(sqlite_engine) == report
    assert ImportReport.from_json(report.to_json()) == report


def test_missing_data_raises_before_touching_the_database(sqlite_engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(DataNotFound, match="SHOP_DATA_DIR"):
        import_online_retail(sqlite_engine, tmp_path / "empty", progress=False)


def test_unmigrated_database_is_refused(tmp_path: Path, tiny_store: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'bare.db'}")
    with pytest.raises(CatalogNotBuilt):
        import_online_retail(engine, tiny_store, progress=False)
    engine.dispose()


# --- the full reference store ---------------------------------------------------------------------------------------

II_FILE = "online_retail_ii_2009-12_2010-12.parquet"
I_FILE = "online_retail_i_2010-12_2011-10.parquet"


def _raw(data_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both files read directly, with a plain per-line "is a sale or return of a product" flag of their own."""
    frames = []
    for name, invoice, price in [(II_FILE, "Invoice", "Price"), (I_FILE, "InvoiceNo", "UnitPrice")]:
        raw = pd.read_parquet(data_dir / name)
        inv = raw[invoice].astype(str)
        code = raw["StockCode"].str.strip().str.upper()
        product = code.str.fullmatch(PRODUCT_CODE_PATTERN) & ~code.isin(SERVICE_ITEM_CODES)
        cancel = inv.str.startswith("C")
        sign_ok = ((raw["Quantity"] > 0) & ~cancel) | ((raw["Quantity"] < 0) & cancel)
        frames.append(pd.DataFrame({"invoice": inv, "kept": product & sign_ok & (raw[price] > 0)}))
    return frames[0], frames[1]


@pytest.mark.slow
def test_full_import_reads_both_files_whole(full_sqlite: Imported) -> None:
    report = full_sqlite.report
    assert report.rows_read == {II_FILE: 525_461, I_FILE: 422_649}
    assert sum(report.rows_read.values()) == report.counts.order_lines + sum(report.dropped.values())
    counts = table_counts(full_sqlite.engine)
    assert counts == {
        "products": report.counts.products,
        "customers": report.counts.customers,
        "orders": report.counts.orders,
        "order_lines": report.counts.order_lines,
        "daily_sales": report.counts.daily_sales,
    }
    assert counts["products"] > 4000 and counts["order_lines"] > 900_000


@pytest.mark.slow
def test_known_products(full_sqlite: Imported) -> None:
    repository = SqlProductRepository(full_sqlite.engine)
    heart = repository.get_by_sku("85123A")
    assert heart is not None and "HANGING HEART T-LIGHT HOLDER" in heart.title
    lunch_bag = repository.get_by_sku("20725")
    assert lunch_bag is not None and lunch_bag.title == "LUNCH BAG RED RETROSPOT"
    assert lunch_bag.price > 0
    gum = repository.get_by_sku("DCGS0058")  # a dotcom-only item, sold like any product
    assert gum is not None and gum.title == "MISO PRETTY GUM"
    assert repository.get_by_sku("85123a") is None  # lowercase variants are merged into 85123A


@pytest.mark.slow
def test_invoices_match_an_independent_count(full_sqlite: Imported) -> None:
    ii, i = _raw(full_sqlite.data_dir)
    expected = set(ii.loc[ii["kept"], "invoice"]) | set(i.loc[i["kept"], "invoice"])
    with full_sqlite.engine.connect() as conn:
        stored = set(conn.scalars(text("SELECT invoice_no FROM orders")))
    assert stored == expected


@pytest.mark.slow
def test_overlap_invoices_are_imported_once(full_sqlite: Imported) -> None:
    ii, i = _raw(full_sqlite.data_dir)
    overlap = set(ii["invoice"]) & set(i["invoice"])
    assert len(overlap) > 800
    kept_ii = int(ii.loc[ii["invoice"].isin(overlap), "kept"].sum())
    kept_i = int(i.loc[i["invoice"].isin(overlap), "kept"].sum())
    assert kept_ii == kept_i  # both files have the same lines for those invoices
    expected_lines = int(ii["kept"].sum()) + int(i["kept"].sum()) - kept_i
    assert full_sqlite.report.counts.order_lines == expected_lines
    assert full_sqlite.report.dropped["overlap"] == int(i["invoice"].isin(overlap).sum())
    with full_sqlite.engine.connect() as conn:
        lines_536365 = conn.scalar(text("SELECT count(*) FROM order_lines WHERE invoice_no = '536365'"))
    assert lines_536365 == 7  # in both files, 7 lines each


@pytest.mark.slow
def test_repeated_lines_inside_an_invoice_are_kept(full_sqlite: Imported) -> None:
    raw = pd.read_parquet(full_sqlite.data_dir / II_FILE)
    raw = raw[raw["Price"] > 0]
    repeated = raw[raw.duplicated(keep=False) & raw["StockCode"].str.fullmatch(r"\d{5}")]
    row = repeated.iloc[0]
    multiplicity = int((raw == row).all(axis=1).sum())
    assert multiplicity >= 2
    with full_sqlite.engine.connect() as conn:
        stored = conn.scalar(
            text(
                "SELECT count(*) FROM order_lines l JOIN products p ON p.id = l.product_id "
                "WHERE l.invoice_no = :inv AND p.stock_code = :code AND l.quantity = :qty"
            ),
            {"inv": row["Invoice"], "code": row["StockCode"], "qty": int(row["Quantity"])},
        )
    assert stored == multiplicity


@pytest.mark.slow
def test_cancellations_are_orders_with_negative_lines(full_sqlite: Imported) -> None:
    with full_sqlite.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT o.is_cancellation, min(l.quantity), max(l.quantity), count(DISTINCT o.invoice_no), "
                "sum(CASE WHEN o.invoice_no LIKE 'C%' THEN 1 ELSE 0 END) "
                "FROM orders o JOIN order_lines l ON l.invoice_no = o.invoice_no GROUP BY o.is_cancellation"
            )
        ).all()
    by_kind = {bool(row[0]): row[1:] for row in rows}
    low, high, invoices, _ = by_kind[True]
    assert high < 0 and invoices == full_sqlite.report.counts.cancellations > 1000
    low, _, _, c_invoices = by_kind[False]
    assert low > 0 and c_invoices == 0


@pytest.mark.slow
def test_guest_orders_have_no_customer(full_sqlite: Imported) -> None:
    with full_sqlite.engine.connect() as conn:
        guests = conn.scalar(text("SELECT count(*) FROM orders WHERE customer_id IS NULL"))
        bad_ids = conn.scalar(text("SELECT count(*) FROM customers WHERE id IN ('0', 'nan', '') OR id LIKE '%.%'"))
        guest = conn.execute(text("SELECT customer_id FROM orders WHERE invoice_no = '538177'")).one()
    assert guests == full_sqlite.report.counts.guest_orders > 1000
    assert bad_ids == 0
    assert guest == (None,)  # CustomerID 0 in file I


@pytest.mark.slow
def test_no_non_products_and_no_unpriced_lines(full_sqlite: Imported) -> None:
    with full_sqlite.engine.connect() as conn:
        codes = list(conn.scalars(text("SELECT stock_code FROM products ORDER BY id")))
        min_line_price = conn.scalar(text("SELECT min(unit_price) FROM order_lines"))
        min_product_price = conn.scalar(text("SELECT min(unit_price) FROM products"))
        titles = list(conn.scalars(text("SELECT title FROM products")))
    assert codes == sorted(codes)  # ids in StockCode order
    assert all(re.fullmatch(PRODUCT_CODE_PATTERN, code) for code in codes)
    assert not {"POST", "DOT", "M", "C2", "BANK CHARGES", "AMAZONFEE", "PADS", "23444"} & set(codes)
    assert min_line_price is not None and min_line_price > 0
    assert min_product_price is not None and min_product_price > 0
    assert all(re.search("[A-Z]", title) for title in titles)


@pytest.mark.slow
def test_daily_sales_add_up_to_the_lines(full_sqlite: Imported) -> None:
    per_product_lines = (
        "SELECT product_id, sum(CASE WHEN quantity > 0 THEN quantity ELSE 0 END) AS sold, "
        "sum(CASE WHEN quantity < 0 THEN -quantity ELSE 0 END) AS returned, "
        "round(sum(CASE WHEN quantity > 0 THEN quantity * unit_price ELSE 0 END), 2) AS revenue "
        "FROM order_lines GROUP BY product_id"
    )
    per_product_daily = (
        "SELECT product_id, sum(units_sold), sum(units_returned), round(sum(revenue), 2) "
        "FROM daily_sales GROUP BY product_id"
    )
    with full_sqlite.engine.connect() as conn:
        lines = {row[0]: tuple(row[1:]) for row in conn.execute(text(per_product_lines))}
        daily = {row[0]: tuple(row[1:]) for row in conn.execute(text(per_product_daily))}
        heart = conn.scalar(text("SELECT id FROM products WHERE stock_code = '85123A'"))
    assert lines[heart][0] > 50_000
    assert {k: v[:2] for k, v in daily.items()} == {k: v[:2] for k, v in lines.items()}
    assert all(abs(daily[k][2] - lines[k][2]) < 0.02 for k in lines)


@pytest.mark.slow
def test_second_full_import_is_skipped_and_changes_nothing(full_sqlite: Imported) -> None:
    engine = full_sqlite.engine
    with engine.connect() as conn:
        run_before = conn.execute(select(ImportRunRow.fingerprint, ImportRunRow.imported_at)).one()
    again = import_online_retail(engine, full_sqlite.data_dir, progress=False)
    assert again.skipped
    assert again.counts == full_sqlite.report.counts
    with engine.connect() as conn:
        assert conn.execute(select(ImportRunRow.fingerprint, ImportRunRow.imported_at)).one() == run_before
    assert table_checksums(engine) == full_sqlite.checksums


@pytest.mark.slow
def test_forced_full_reimport_gives_identical_tables(full_sqlite: Imported) -> None:
    engine = full_sqlite.engine
    with CountWatcher(engine) as watcher:
        forced = import_online_retail(engine, full_sqlite.data_dir, force=True, progress=False)
    assert not forced.skipped and forced.counts == full_sqlite.report.counts
    assert len(watcher.seen) > 10  # readers kept reading during the import ...
    assert set(watcher.seen) == {(forced.counts.order_lines, forced.counts.products)}  # ... and never saw a part
    assert table_checksums(engine) == full_sqlite.checksums


@pytest.mark.slow
def test_types_read_back(full_sqlite: Imported) -> None:
    with full_sqlite.engine.connect() as conn:
        product = conn.execute(text("SELECT first_sold, last_sold FROM products WHERE stock_code = '85123A'")).one()
    assert product == ("2009-12-01", "2011-10-31")
    with full_sqlite.engine.connect() as conn:
        first_sold = conn.scalar(select(ProductRow.first_sold).where(ProductRow.stock_code == "85123A"))
        invoiced_at = conn.scalar(select(OrderRow.invoiced_at).where(OrderRow.invoice_no == "536365"))
    assert first_sold == date(2009, 12, 1)
    assert invoiced_at == datetime(2010, 12, 1, 8, 26)


def test_checksums_see_one_changed_value(sqlite_engine: Engine, tiny_store: Path) -> None:
    import_online_retail(sqlite_engine, tiny_store, progress=False)
    before = table_checksums(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(text("UPDATE order_lines SET quantity = quantity + 1 WHERE id = 13"))
    after = table_checksums(sqlite_engine)
    assert after["order_lines"] != before["order_lines"]
    assert {k: v for k, v in after.items() if k != "order_lines"} == {
        k: v for k, v in before.items() if k != "order_lines"
    }
