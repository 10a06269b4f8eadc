"""The pure cleaning rules of `catalog.online_retail`, on tiny hand-made frames."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from catalog.errors import DataNotFound
from catalog.online_retail import (
    build_tables,
    choose_prices,
    choose_titles,
    clean_lines,
    find_source_files,
    is_note,
    is_product_code,
    normalise,
    read_lines,
)
from tests.catalog.conftest import HEART, I_COLUMNS, II_COLUMNS, write_tiny_store


def _sales(rows: list[tuple[str, str | None, str, float]]) -> pd.DataFrame:
    """Lines as (stock_code, description, invoiced_at, price)."""
    frame = pd.DataFrame(rows, columns=["stock_code", "description", "invoiced_at", "price"])
    return frame.astype({"stock_code": "string", "description": "string"}).assign(
        invoiced_at=pd.to_datetime(frame["invoiced_at"])
    )


def test_normalise_maps_file_ii_schema() -> None:
    raw = pd.DataFrame(
        [
            ("C489449", " 85123a ", "nan", -2, "2009-12-02 10:00:00", 2.55, 13085, " United Kingdom"),
            ("489450", "POST", "POSTAGE", 1, "2009-12-02 10:01:00", 18.0, None, "France"),
        ],
        columns=II_COLUMNS,
    ).astype({"Customer ID": "Int64"})
    lines = normalise(raw, "online_retail_ii")
    assert lines["invoice"].tolist() == ["C489449", "489450"]
    assert lines["stock_code"].tolist() == ["85123A", "POST"]
    assert lines["description"].isna().tolist() == [True, False]
    assert lines["customer_id"].tolist()[0] == "13085"
    assert pd.isna(lines["customer_id"].tolist()[1])
    assert lines["invoiced_at"].tolist()[0] == pd.Timestamp("2009-12-02 10:00:00")
    assert lines["country"].tolist()[0] == "United Kingdom"
    assert (lines["source"] == "online_retail_ii").all()


def test_normalise_maps_file_i_schema_with_float_ids_and_zero_for_guests() -> None:
    raw = pd.DataFrame(
        [
            (536365, "85123A", HEART, 6, "2010-12-01 08:26:00", 2.55, 17850.0, "United Kingdom"),
            (536366, "22633", "Missing_Description", 6, "2010-12-01 08:28:00", 1.85, 0.0, "United Kingdom"),
        ],
        columns=I_COLUMNS,
    )
    lines = normalise(raw, "online_retail")
    assert lines["invoice"].tolist() == ["536365", "536366"]
    assert lines["customer_id"].tolist()[0] == "17850"
    assert pd.isna(lines["customer_id"].tolist()[1])
    assert pd.isna(lines["description"].tolist()[1])
    assert lines["price"].tolist() == [2.55, 1.85]


def test_normalise_accepts_datetime_invoice_dates() -> None:
    raw = pd.DataFrame(
        [(536365, "85123A", HEART, 6, pd.Timestamp("2010-12-01 08:26:00"), 2.55, 17850.0, "United Kingdom")],
        columns=I_COLUMNS,
    )
    assert normalise(raw, "online_retail")["invoiced_at"].tolist() == [pd.Timestamp("2010-12-01 08:26:00")]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("85123A", True),
        ("20725", True),
        ("15056BL", True),
        ("DCGS0058", True),
        ("DCGSSGIRL", True),
        ("SP1002", True),
        ("POST", False),
        ("DOT", False),
        ("M", False),
        ("C2", False),
        ("C3", False),
        ("D", False),
        ("S", False),
        ("B", False),
        ("BANK CHARGES", False),
        ("ADJUST2", False),
        ("PADS", False),
        ("AMAZONFEE", False),
        ("TEST001", False),
        ("CRUK", False),
        ("GIFT", False),
        ("GIFT_0001_20", False),
        ("23444", False),  # Next Day Carriage
        ("23574", False),  # PACKING CHARGE
        ("1234", False),
        ("123456", False),
    ],
)
def test_non_product_rule(code: str, expected: bool) -> None:
    assert is_product_code(pd.Series([code], dtype="string")).tolist() == [expected]


def test_notes_are_descriptions_without_capitals() -> None:
    descriptions = pd.Series(["damaged", "?", "wet", "21733 mixed", None, "BAG 125g SWIRLY MARBLES", "Damaged"])
    assert is_note(descriptions.astype("string")).tolist() == [True, True, True, True, True, False, False]


def test_title_is_most_frequent_description_and_never_a_note() -> None:
    sales = _sales(
        [
            ("20725", "LUNCH BAG RED SPOTTY", "2010-01-01", 1.65),
            ("20725", "LUNCH BAG  RED RETROSPOT ", "2010-02-01", 1.65),
            ("20725", "LUNCH BAG RED RETROSPOT", "2009-12-01", 1.65),
            ("20725", "damaged", "2010-03-01", 1.65),
            ("20725", "damaged", "2010-03-02", 1.65),
            ("20725", "damaged", "2010-03-03", 1.65),
            ("22423", "?", "2010-03-01", 12.75),
        ]
    )
    titles = choose_titles(sales)
    assert titles["20725"] == "LUNCH BAG RED RETROSPOT"
    assert titles["22423"] == "22423"  # nothing usable: the code itself


def test_title_ties_go_to_the_most_recent_description() -> None:
    sales = _sales(
        [
            ("85123A", "CREAM HANGING HEART T-LIGHT HOLDER", "2010-01-01", 2.55),
            ("85123A", HEART, "2010-06-01", 2.55),
            ("85123A", "CREAM HANGING HEART T-LIGHT HOLDER", "2010-03-01", 2.55),
            ("85123A", HEART, "2010-02-01", 2.55),
        ]
    )
    assert choose_titles(sales)["85123A"] == HEART


def test_price_is_most_frequent_in_last_90_days() -> None:
    sales = _sales(
        [
            ("A", "X", "2010-01-01", 1.00),  # old price, frequent but outside the window
            ("A", "X", "2010-01-02", 1.00),
            ("A", "X", "2010-01-03", 1.00),
            ("A", "X", "2010-05-01", 1.25),
            ("A", "X", "2010-05-02", 1.25),
            ("A", "X", "2010-05-03", 1.45),
            ("B", "Y", "2010-05-01", 2.00),  # tie: the most recent price wins
            ("B", "Y", "2010-05-02", 2.10),
        ]
    )
    assert choose_prices(sales).to_dict() == {"A": 1.25, "B": 2.10}


def _lines(rows: list[tuple[str, str, int, float, str | None, str]]) -> pd.DataFrame:
    """Normalised lines as (invoice, stock_code, quantity, price, customer_id, source)."""
    frame = pd.DataFrame(rows, columns=["invoice", "stock_code", "quantity", "price", "customer_id", "source"])
    return frame.assign(
        description="ITEM",
        invoiced_at=pd.Timestamp("2010-12-01 10:00"),
        country="United Kingdom",
        invoice=frame["invoice"].astype("string"),
        stock_code=frame["stock_code"].astype("string"),
        customer_id=frame["customer_id"].astype("string"),
    )


def test_clean_lines_dedupes_overlap_per_invoice_and_keeps_repeated_lines() -> None:
    lines = _lines(
        [
            ("536365", "85123A", 6, 2.55, "17850", "online_retail_ii"),
            ("536365", "85123A", 6, 2.55, "17850", "online_retail_ii"),
            ("536365", "85123A", 6, 2.55, "17850", "online_retail"),
            ("536365", "85123A", 6, 2.55, "17850", "online_retail"),
            ("536366", "85123A", 6, 2.55, "17850", "online_retail"),
        ]
    )
    clean = clean_lines(lines)
    assert clean.dropped["overlap"] == 2
    assert clean.lines["invoice"].tolist() == ["536365", "536365", "536366"]
    assert clean.lines["source"].tolist() == ["online_retail_ii", "online_retail_ii", "online_retail"]


def test_clean_lines_counts_each_drop_once_in_rule_order() -> None:
    lines = _lines(
        [
            ("1", "POST", 1, 18.0, None, "online_retail_ii"),  # non-product
            ("2", "M", -1, 0.0, None, "online_retail_ii"),  # non-product first, though also unpriced
            ("3", "20725", -5, 0.0, None, "online_retail_ii"),  # stock adjustment (also unpriced)
            ("4", "20725", 5, 0.0, None, "online_retail_ii"),  # unpriced
            ("C5", "20725", 5, 1.65, None, "online_retail_ii"),  # positive quantity on a cancellation
            ("C6", "20725", -5, 1.65, None, "online_retail_ii"),  # kept
            ("7", "20725", 5, 1.65, None, "online_retail_ii"),  # kept
        ]
    )
    clean = clean_lines(lines)
    assert clean.dropped == {"overlap": 0, "non_product": 2, "stock_adjustment": 2, "price_not_positive": 1}
    assert clean.dropped_codes == {"M": 1, "POST": 1}
    assert clean.lines["invoice"].tolist() == ["C6", "7"]


def test_tiny_store_tables(tmp_path: Path) -> None:
    clean = clean_lines(read_lines(write_tiny_store(tmp_path)))
    tables = build_tables(clean.lines)
    products = tables.products.set_index("stock_code")
    assert products.index.tolist() == ["20725", "22633", "71053", "85123A", "DCGS0058"]
    assert products["id"].tolist() == [1, 2, 3, 4, 5]
    assert products.loc["20725", "title"] == "LUNCH BAG RED RETROSPOT"
    assert products.loc["85123A", "title"] == HEART
    assert products.loc["85123A", "unit_price"] == 2.55
    assert products.loc["20725", "unit_price"] == 1.65
    orders = tables.orders.set_index("invoice_no")
    assert sorted(orders.index) == sorted(
        ["489434", "C489449", "489500", "536365", "536366", "536367", "536368", "536369", "536370"]
    )
    assert orders["is_cancellation"].sum() == 1 and orders.loc["C489449", "is_cancellation"]
    assert sorted(orders.index[orders["customer_id"].isna()]) == ["489500", "536367"]
    assert orders.loc["536367", "invoiced_at"] == pd.Timestamp("2010-12-01 08:34:00")
    customers = tables.customers.set_index("id")["country"].to_dict()
    assert customers == {"12346": "France", "13085": "United Kingdom", "17850": "United Kingdom"}
    lines = tables.order_lines
    assert lines["id"].tolist() == list(range(1, 14))
    assert (lines.loc[lines["invoice_no"] == "C489449", "quantity"] < 0).all()
    assert lines.loc[lines["invoice_no"] == "489500", "description"].tolist()[1] == HEART
    daily = tables.daily_sales.set_index(["product_id", "day"])
    heart = 4
    assert daily.loc[(heart, pd.Timestamp("2009-12-01"))].to_dict() == {
        "units_sold": 12,
        "units_returned": 0,
        "revenue": 30.60,
        "orders": 1,
    }
    assert daily.loc[(heart, pd.Timestamp("2009-12-02"))].to_dict() == {
        "units_sold": 0,
        "units_returned": 2,
        "revenue": 0.0,
        "orders": 0,
    }


def test_missing_folder_raises_data_not_found_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound) as caught:
        find_source_files(tmp_path / "nowhere")
    message = str(caught.value)
    assert str(tmp_path / "nowhere") in message
    assert "SHOP_DATA_DIR" in message


def test_empty_folder_message_says_where_what_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataNotFound) as caught:
        find_source_files(tmp_path)
    message = str(caught.value)
    for expected in [
        str(tmp_path),
        "SHOP_DATA_DIR",
        "https://archive.ics.uci.edu/dataset/352/online+retail",
        "https://archive.ics.uci.edu/dataset/502/online+retail+ii",
        "online_retail_ii_2009-12_2010-12.parquet",
        "online_retail_i_2010-12_2011-10.parquet",
        "Customer ID",
        "UnitPrice",
        "to_parquet",
    ]:
        assert expected in message


def test_files_are_found_by_columns_and_one_missing_kind_is_named(tmp_path: Path) -> None:
    paths = write_tiny_store(tmp_path)
    assert find_source_files(tmp_path) == paths
    paths["online_retail"].unlink()
    with pytest.raises(DataNotFound, match=re.escape("no online_retail_i_2010-12_2011-10.parquet file")):
        find_source_files(tmp_path)


def test_two_files_of_one_kind_are_refused(tmp_path: Path) -> None:
    paths = write_tiny_store(tmp_path)
    (tmp_path / "copy.parquet").write_bytes(paths["online_retail"].read_bytes())
    with pytest.raises(DataNotFound, match="more than one file"):
        find_source_files(tmp_path)


def test_an_unreadable_parquet_file_is_named(tmp_path: Path) -> None:
    write_tiny_store(tmp_path)
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataNotFound, match=re.escape("broken.parquet")):
        find_source_files(tmp_path)
