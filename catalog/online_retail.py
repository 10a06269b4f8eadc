"""The UCI Online Retail files → the catalog's tables, as pandas DataFrames (no database here).

Two files describe one UK giftware e-shop: "Online Retail II" (2009-12-01..2010-12-09, keeps cancellations and stock
adjustments) and "Online Retail" (2010-12-01..2011-10-31 here, without them). They use different column names and
types; `normalise` maps both onto one line schema.

Every source line is either kept or dropped for exactly one reason, checked in this order:

1. ``overlap``: file I repeats the invoices of 2010-12-01..09 that file II already has (the same lines; file II also
   has that week's cancellations and adjustments). Deduplication is per invoice: an invoice number found in file II
   is taken from file II only. Lines repeated inside one invoice are real (an item scanned twice) and stay.
2. ``non_product``: the StockCode is not something a shopper buys. Products are the store's item numbers (five
   digits plus an optional variant suffix of one or two letters: 85123A, 15056BL) and its dotcom-only items
   (DCGS…, e.g. DCGS0058 'MISO PRETTY GUM', DCGSSGIRL 'GIRLS PARTY BAG'; SP…, e.g. SP1002 'KID'S CHALKBOARD/EASEL'):
   in the data these are sold like any product, in positive quantities at stable prices under item descriptions.
   Every other code is a charge, fee, adjustment, voucher or test: POST, DOT (postage), C2/C3 (carriage), M (manual
   correction), D (discount), S (samples), B (bad debt), BANK CHARGES, AMAZONFEE, ADJUST*, TEST*, PADS (priced at
   0.001), GIFT and gift_0001_* (vouchers), CRUK (charity). Four item numbers are services too, found by their
   descriptions: 22016 (gift voucher), 23444 (Next Day Carriage), 23574 (PACKING CHARGE), 23702 (High Resolution
   Image). Codes are compared stripped and upper-cased ('85123a' is 85123A, 'm' is M).
3. ``stock_adjustment``: the quantity's sign contradicts the invoice: negative on a sales invoice (warehouse
   write-offs noted 'damaged', 'missing', '?', all at price 0), positive on a cancellation, or zero.
4. ``price_not_positive``: unit price ≤ 0 (free replacements, lines with no description).

Derived values:

- An invoice starting with 'C' is a cancellation: an order of its own with negative lines. An order exists only if
  it keeps at least one line; its time is its earliest line's (a few invoices straddle a minute).
- A missing CustomerID (NaN, or 0 in file I) makes a guest order (customer NULL). A customer's country is the most
  frequent country of their orders (ties: the most recent order's).
- A product's "sales lines" are its kept positive lines (its cancellation lines when it has no sale at all).
  Title: the most frequent description of its sales lines, whitespace-collapsed (ties: the most recently used);
  notes without any capital letter ('damaged', '?', 'wet', '21733 mixed') never count. Unit price: the most frequent
  line price in the 90 days up to its last sale (ties: the most recent), the price a shopper would be quoted now.
  Order lines keep their own description as invoiced (trimmed).
- Ids are deterministic: products numbered in StockCode order, order lines in file order (file II, then file I).
- daily_sales per product and day: units sold (positive lines), units returned (cancellation lines, as a positive
  number), revenue of the units sold (before returns) and the number of sales invoices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from catalog.errors import DataNotFound

LINE_COLUMNS = ["invoice", "stock_code", "description", "quantity", "invoiced_at", "price", "customer_id", "country"]
"""The normalised line schema both files are mapped onto (plus `source`)."""

SCHEMAS: dict[str, dict[str, str]] = {
    "online_retail_ii": {
        "Invoice": "invoice",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoiced_at",
        "Price": "price",
        "Customer ID": "customer_id",
        "Country": "country",
    },
    "online_retail": {
        "InvoiceNo": "invoice",
        "StockCode": "stock_code",
        "Description": "description",
        "Quantity": "quantity",
        "InvoiceDate": "invoiced_at",
        "UnitPrice": "price",
        "CustomerID": "customer_id",
        "Country": "country",
    },
}
"""Source column → line column, per file kind. File II comes first: it wins the overlap and its lines come first."""

EXPECTED_FILES = {
    "online_retail_ii": "online_retail_ii_2009-12_2010-12.parquet",
    "online_retail": "online_retail_i_2010-12_2011-10.parquet",
}

PRODUCT_CODE_PATTERN = r"\d{5}[A-Z]{0,2}|DCGS[0-9A-Z]+|SP\d{4}"
SERVICE_ITEM_CODES = frozenset({"22016", "23444", "23574", "23702"})
DROP_REASONS = ("overlap", "non_product", "stock_adjustment", "price_not_positive")
MISSING_DESCRIPTIONS = frozenset({"", "nan", "NaN", "None", "Missing_Description"})
PRICE_WINDOW = pd.Timedelta(days=90)
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class CleanLines:
    """Kept lines in file order, and how many lines were dropped per reason and per non-product code."""

    lines: pd.DataFrame
    dropped: dict[str, int]
    dropped_codes: dict[str, int]


@dataclass(frozen=True)
class CatalogTables:
    """One DataFrame per catalog table, columns named as in `catalog.models`, rows in id order."""

    products: pd.DataFrame
    customers: pd.DataFrame
    orders: pd.DataFrame
    order_lines: pd.DataFrame
    daily_sales: pd.DataFrame


def data_help(data_dir: Path) -> str:
    """What to put where: the text of every `DataNotFound` about the Online Retail files."""
    files = "\n".join(f"  {EXPECTED_FILES[kind]}: columns {', '.join(cols)}" for kind, cols in SCHEMAS.items())
    return (
        f"expected the Online Retail parquet files in {data_dir}:\n{files}\n"
        "Files are recognised by their columns, whatever their names; InvoiceDate is text 'YYYY-MM-DD HH:MM:SS' or a "
        "datetime. Set SHOP_DATA_DIR to the folder that holds them.\n"
        "The originals (CC BY 4.0) are https://archive.ics.uci.edu/dataset/352/online+retail and "
        "https://archive.ics.uci.edu/dataset/502/online+retail+ii ; convert each with pandas, e.g.\n"
        "  pd.read_excel('online_retail_II.xlsx', sheet_name='Year 2009-2010', dtype={'Invoice': str, "
        "'StockCode': str}).to_parquet('online_retail_ii_2009-12_2010-12.parquet')\n"
        "  pd.read_excel('Online Retail.xlsx', dtype={'InvoiceNo': str, 'StockCode': str})"
        ".to_parquet('online_retail_i_2010-12_2011-10.parquet')"
    )


def find_source_files(data_dir: Path) -> dict[str, Path]:
    """The parquet file of each kind in `SCHEMAS`, recognised by its columns. Raises `DataNotFound`."""
    if not data_dir.is_dir():
        raise DataNotFound(f"data folder {data_dir} does not exist; " + data_help(data_dir))
    found: dict[str, list[Path]] = {kind: [] for kind in SCHEMAS}
    for path in sorted(data_dir.glob("*.parquet")):
        try:
            names = set(pq.read_schema(path).names)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataNotFound(f"cannot read {path} as parquet ({exc}); " + data_help(data_dir)) from exc
        for kind, columns in SCHEMAS.items():
            if set(columns) <= names:
                found[kind].append(path)
    missing = [kind for kind, paths in found.items() if not paths]
    if missing:
        raise DataNotFound(f"no {' or '.join(EXPECTED_FILES[k] for k in missing)} file; " + data_help(data_dir))
    ambiguous = {kind: paths for kind, paths in found.items() if len(paths) > 1}
    if ambiguous:
        listing = "; ".join(f"{kind}: {', '.join(p.name for p in paths)}" for kind, paths in ambiguous.items())
        raise DataNotFound(f"more than one file of a kind in {data_dir} ({listing}); keep one of each")
    return {kind: paths[0] for kind, paths in found.items()}


def read_lines(files: Mapping[str, Path]) -> pd.DataFrame:
    """All lines of the source files, normalised, file II first, each file in its own order."""
    frames = [normalise(pd.read_parquet(files[kind], columns=list(SCHEMAS[kind])), kind) for kind in SCHEMAS]
    return pd.concat(frames, ignore_index=True)


def normalise(raw: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One source file's rows in the line schema: text invoices and codes, datetimes, customer ids as text or NA."""
    df = raw.rename(columns=SCHEMAS[kind])[LINE_COLUMNS]
    when = df["invoiced_at"]
    if not pd.api.types.is_datetime64_any_dtype(when):
        when = pd.to_datetime(when, format=DATE_FORMAT)
    customer = pd.to_numeric(df["customer_id"], errors="coerce").round().astype("Int64")
    customer = customer.where(customer > 0)
    description = df["description"].astype("string").str.strip()
    return pd.DataFrame(
        {
            "invoice": df["invoice"].astype("string").str.strip(),
            "stock_code": df["stock_code"].astype("string").str.strip().str.upper(),
            "description": description.where(~description.isin(MISSING_DESCRIPTIONS) & description.notna()),
            "quantity": df["quantity"].astype("int64"),
            "invoiced_at": when
            if pd.api.types.is_datetime64_any_dtype(when)
            else pd.to_datetime(when, format=DATE_FORMAT),
            "price": df["price"].astype("float64"),
            "customer_id": customer.astype("string"),
            "country": df["country"].astype("string").str.strip(),
            "source": kind,
        }
    )


def is_product_code(codes: pd.Series) -> pd.Series:
    """True where a (normalised) StockCode is a product rather than a fee, charge, adjustment, voucher or test."""
    return codes.str.fullmatch(PRODUCT_CODE_PATTERN).fillna(False).astype(bool) & ~codes.isin(SERVICE_ITEM_CODES)


def clean_lines(lines: pd.DataFrame) -> CleanLines:
    """Drop overlap, non-product, stock-adjustment and unpriced lines (see the module docstring), counting each."""
    first_kind = next(iter(SCHEMAS))
    first_invoices = lines.loc[lines["source"] == first_kind, "invoice"].unique()
    cancellation = lines["invoice"].str.startswith("C")
    quantity = lines["quantity"]
    rules = {
        "overlap": (lines["source"] != first_kind) & lines["invoice"].isin(first_invoices),
        "non_product": ~is_product_code(lines["stock_code"]),
        "stock_adjustment": (quantity == 0) | ((quantity < 0) & ~cancellation) | ((quantity > 0) & cancellation),
        "price_not_positive": ~(lines["price"] > 0),
    }
    remaining = pd.Series(True, index=lines.index)
    dropped: dict[str, int] = {}
    dropped_codes: dict[str, int] = {}
    for reason in DROP_REASONS:
        hit = remaining & rules[reason].astype(bool)
        dropped[reason] = int(hit.sum())
        if reason == "non_product":
            counts = lines.loc[hit, "stock_code"].value_counts()
            dropped_codes = {str(code): int(n) for code, n in counts.sort_index().items()}
        remaining &= ~hit
    return CleanLines(lines=lines[remaining].reset_index(drop=True), dropped=dropped, dropped_codes=dropped_codes)


def is_note(descriptions: pd.Series) -> pd.Series:
    """True for descriptions that cannot be titles: missing, or without any capital letter ('damaged', '?')."""
    return ~descriptions.str.contains("[A-Z]", regex=True).fillna(False).astype(bool)


def choose_titles(sales: pd.DataFrame) -> pd.Series:
    """Title per stock_code: the most frequent usable description (ties: most recently used); else the code."""
    text = sales["description"].str.replace(r"\s+", " ", regex=True).str.strip()
    usable = sales.assign(title=text)[~is_note(text)]
    stats = usable.groupby(["stock_code", "title"], as_index=False).agg(
        n=("invoiced_at", "size"), last=("invoiced_at", "max")
    )
    best = stats.sort_values(["stock_code", "n", "last"], ascending=[True, False, False]).drop_duplicates("stock_code")
    titles = best.set_index("stock_code")["title"].astype("string")
    codes = pd.Index(sales["stock_code"].unique()).sort_values()
    return titles.reindex(codes).fillna(pd.Series(codes, index=codes, dtype="string"))


def choose_prices(sales: pd.DataFrame) -> pd.Series:
    """Unit price per stock_code: the most frequent line price in the 90 days up to its last sale (ties: latest)."""
    last_sale = sales.groupby("stock_code")["invoiced_at"].transform("max")
    recent = sales[sales["invoiced_at"] > last_sale - PRICE_WINDOW]
    stats = recent.groupby(["stock_code", "price"], as_index=False).agg(
        n=("invoiced_at", "size"), last=("invoiced_at", "max")
    )
    best = stats.sort_values(["stock_code", "n", "last"], ascending=[True, False, False]).drop_duplicates("stock_code")
    return best.set_index("stock_code")["price"].sort_index()


def build_tables(lines: pd.DataFrame) -> CatalogTables:
    """The catalog's tables from kept lines (output of `clean_lines`); deterministic for the same input."""
    lines = lines.assign(
        is_cancellation=lines["invoice"].str.startswith("C").astype(bool),
        invoiced_at=lines.groupby("invoice")["invoiced_at"].transform("min"),
    )
    products = _products(lines)
    product_ids = pd.Series(products["id"].to_numpy(), index=products["stock_code"])
    orders = _orders(lines)
    order_lines = pd.DataFrame(
        {
            "id": range(1, len(lines) + 1),
            "invoice_no": lines["invoice"],
            "product_id": lines["stock_code"].map(product_ids).astype("int64"),
            "quantity": lines["quantity"],
            "unit_price": lines["price"].round(2),
            "description": lines["description"].fillna(""),
        }
    )
    daily = _daily_sales(order_lines.assign(day=lines["invoiced_at"].dt.normalize()))
    return CatalogTables(
        products=products, customers=_customers(orders), orders=orders, order_lines=order_lines, daily_sales=daily
    )


def _products(lines: pd.DataFrame) -> pd.DataFrame:
    has_sale = lines.groupby("stock_code")["quantity"].transform("max") > 0
    sales = lines[(lines["quantity"] > 0) | ~has_sale]
    span = sales.groupby("stock_code")["invoiced_at"].agg(["min", "max"]).sort_index()
    return pd.DataFrame(
        {
            "id": range(1, len(span) + 1),
            "stock_code": span.index.astype("string"),
            "title": choose_titles(sales).reindex(span.index).to_numpy(),
            "unit_price": choose_prices(sales).reindex(span.index).round(2).to_numpy(),
            "first_sold": span["min"].dt.normalize().to_numpy(),
            "last_sold": span["max"].dt.normalize().to_numpy(),
        }
    )


def _orders(lines: pd.DataFrame) -> pd.DataFrame:
    first = lines.drop_duplicates("invoice")
    return pd.DataFrame(
        {
            "invoice_no": first["invoice"],
            "customer_id": first["customer_id"],
            "invoiced_at": first["invoiced_at"],
            "country": first["country"],
            "is_cancellation": first["is_cancellation"],
        }
    ).reset_index(drop=True)


def _customers(orders: pd.DataFrame) -> pd.DataFrame:
    known = orders.dropna(subset=["customer_id"])
    stats = known.groupby(["customer_id", "country"], as_index=False).agg(
        n=("invoice_no", "size"), last=("invoiced_at", "max")
    )
    best = stats.sort_values(["customer_id", "n", "last"], ascending=[True, False, False])
    return best.drop_duplicates("customer_id")[["customer_id", "country"]].rename(columns={"customer_id": "id"})


def _daily_sales(lines: pd.DataFrame) -> pd.DataFrame:
    sold = lines["quantity"].clip(lower=0)
    pence = (lines["unit_price"] * 100).round().astype("int64")
    frame = lines.assign(
        units_sold=sold,
        units_returned=(-lines["quantity"]).clip(lower=0),
        revenue_pence=sold * pence,
        sale_invoice=lines["invoice_no"].where(lines["quantity"] > 0),
    )
    daily = frame.groupby(["product_id", "day"], as_index=False).agg(
        units_sold=("units_sold", "sum"),
        units_returned=("units_returned", "sum"),
        revenue_pence=("revenue_pence", "sum"),
        orders=("sale_invoice", "nunique"),
    )
    daily["revenue"] = daily.pop("revenue_pence") / 100
    return daily[["product_id", "day", "units_sold", "units_returned", "revenue", "orders"]]
