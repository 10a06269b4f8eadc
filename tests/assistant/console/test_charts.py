"""SVG charts: well-formed XML, one mark per datum with its tooltip, every label escaped, no script anywhere."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from assistant.console.charts import bar_chart, fmt_percent, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
XSS = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed XML, e.g. an unescaped "<" or "&" in a label


def all_text(root: ET.Element) -> str:
    return " ".join(t for t in root.itertext())


def test_bar_chart_has_a_bar_with_tooltip_per_item_in_order() -> None:
    items = [("search_products", 120.0), ("greet", 45.0), ("check_stock", 7.0)]
    root = parse(bar_chart(items, title="Intent mix", value_label="user messages"))
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Intent mix"  # type: ignore[union-attr]
    bars = root.findall(f"{SVG}g[@class='bar']")
    assert [b.find(f"{SVG}title").text for b in bars] == [  # type: ignore[union-attr]
        "search_products: 120",
        "greet: 45",
        "check_stock: 7",
    ]
    widths = [float(b.find(f"{SVG}rect").get("width", "0")) for b in bars]  # type: ignore[union-attr]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[0] / widths[2] == pytest.approx(120 / 7, rel=0.01)


def test_bar_chart_escapes_labels_and_titles() -> None:
    svg = bar_chart([(XSS, 3.0)], title=f"Searches {XSS}", value_label=XSS)
    root = parse(svg)
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;" in svg
    assert root.find(f".//{SVG}script") is None
    assert XSS in all_text(root)  # the tooltip holds the full text, unharmed once parsed
    for element in root.iter():
        assert not any(name.lower().startswith("on") for name in element.attrib)


def test_long_labels_are_cut_but_tooltip_keeps_them() -> None:
    label = "set of 3 cake tins pantry design with a very long name"
    root = parse(bar_chart([(label, 1.0)], title="t"))
    bar = root.find(f"{SVG}g[@class='bar']")
    assert bar is not None
    texts = [t.text or "" for t in bar.findall(f"{SVG}text")]
    assert texts[0].endswith("…") and len(texts[0]) <= 28
    assert bar.find(f"{SVG}title").text == f"{label}: 1"  # type: ignore[union-attr]


def test_empty_charts_say_so() -> None:
    assert "No data" in all_text(parse(bar_chart([], title="Nothing")))
    assert "No data" in all_text(parse(line_chart([], title="Nothing")))
    assert "No data" in all_text(parse(line_chart([("a", None)], title="Nothing")))


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        bar_chart([("x", -1.0)], title="t")
    with pytest.raises(ValueError, match="not a finite number"):
        line_chart([("x", float("nan"))], title="t")


def test_line_chart_points_gaps_axes_and_escaping() -> None:
    start = date(2026, 11, 1)
    points: list[tuple[date | str, float | None]] = [
        (start + timedelta(days=i), v) for i, v in enumerate([0.1, 0.2, None, 0.4, 0.5])
    ]
    root = parse(line_chart(points, title=f"Fallback rate {XSS}", y_label="share", fmt=fmt_percent, y_min=0, y_max=1))
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 4
    assert circles[0].find(f"{SVG}title").text == "2026-11-01: 10.0%"  # type: ignore[union-attr]
    assert len(root.findall(f"{SVG}polyline")) == 2  # the None splits the line
    ys = [float(c.get("cy", "0")) for c in circles]
    assert ys == sorted(ys, reverse=True)  # higher values are drawn higher (smaller y)
    labels = all_text(root)
    assert "0.0%" in labels and "100.0%" in labels and "2026-11-01" in labels
    assert "<script" not in line_chart(points, title=XSS, y_label=XSS)


def test_charts_on_one_page_get_distinct_ids() -> None:
    a = parse(bar_chart([("a", 1.0)], title="One"))
    b = parse(bar_chart([("a", 1.0)], title="Two"))
    c = parse(line_chart([("a", 1.0)], title="One", chart_id='x" onload="alert(1)'))
    assert a.get("id") != b.get("id")
    assert c.get("id", "").replace("-", "").isalnum()


def test_nice_ticks() -> None:
    assert nice_ticks(0, 100) == [0, 25, 50, 75, 100]
    assert nice_ticks(-1, 1) == [-1, -0.5, 0, 0.5, 1]
    ticks = nice_ticks(0, 7)
    assert ticks[0] == 0 and ticks[-1] >= 7
    assert nice_ticks(3, 3)[0] <= 3 <= nice_ticks(3, 3)[-1]
