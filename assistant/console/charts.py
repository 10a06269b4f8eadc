"""Charts for the insight page as server-side SVG strings: no JavaScript, no chart library, nothing from a CDN.

The console inlines these into its templates (mark them safe there: every piece of text that came from data is
escaped here with `html.escape`, labels and titles included, so a product title or a shopper's search words cannot
inject markup). Each chart is an `<svg role="img">` with a `<title>` and `<desc>` for screen readers, and each bar or
point has its own `<title>` (a tooltip with the exact value). Colours keep WCAG AA contrast on white: dark grey text
(#1a1a1a, 17:1) and dark blue marks (#1f5fa8, 6.3:1).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import date
from html import escape

TEXT = "#1a1a1a"
MUTED = "#4a4a4a"
MARK = "#1f5fa8"
GRID = "#d0d0d0"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
MAX_LABEL_CHARS = 28

Formatter = Callable[[float], str]


def _fmt_number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def fmt_percent(value: float) -> str:
    """0.125 → '12.5%' (for rates stored as fractions)."""
    return f"{value * 100:.1f}%"


def _esc(text: str) -> str:
    return escape(text, quote=True)


def _short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    """Cut a long label (before escaping, so no entity is split); the full text stays in the tooltip."""
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _chart_id(kind: str, title: str, chart_id: str | None) -> str:
    if chart_id:
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in chart_id)
    return f"{kind}-{hashlib.sha1(title.encode('utf-8')).hexdigest()[:10]}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 × a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"ticks need finite bounds, got {low!r} and {high!r}")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _open(chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="{_esc(FONT)}" font-size="12">',
        f'<title id="{chart_id}-title">{_esc(title)}</title>',
        f'<desc id="{chart_id}-desc">{_esc(desc)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="12" y="22" font-size="15" font-weight="600" fill="{TEXT}">{_esc(title)}</text>',
    ]


def _empty(chart_id: str, width: int, height: int, title: str, message: str) -> str:
    parts = _open(chart_id, width, height, title, message)
    parts.append(
        f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="{MUTED}">{_esc(message)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    value_label: str = "",
    fmt: Formatter = _fmt_number,
    width: int = 640,
    chart_id: str | None = None,
    empty_message: str = "No data for this period.",
) -> str:
    """Horizontal bars, one per (label, value), in the given order; values must be ≥ 0.

    Horizontal because the labels here are long (intent names, search words, product titles)."""
    cid = _chart_id("bar", title, chart_id)
    row, top, bottom = 24, 40, 34
    height = top + bottom + row * max(len(items), 1)
    if not items:
        return _empty(cid, width, height + row, title, empty_message)
    for label, value in items:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"bar chart {title!r}: value {value!r} for {label!r} is not a finite number ≥ 0")
    label_w = 200
    left, right = label_w + 16, 70
    plot_w = width - left - right
    top_value = max(value for _, value in items)
    ticks = nice_ticks(0.0, top_value if top_value > 0 else 1.0, 5)
    scale_max = ticks[-1]
    plot_h = row * len(items)
    desc = f"Bar chart, {len(items)} bars" + (f", {value_label}" if value_label else "")
    parts = _open(cid, width, height, title, desc)
    tick_fmt = _tick_formatter(ticks, fmt)
    for tick in ticks:
        x = left + plot_w * tick / scale_max
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{MUTED}">'
            f"{_esc(tick_fmt(tick))}</text>"
        )
    if value_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" fill="{MUTED}">'
            f"{_esc(value_label)}</text>"
        )
    for i, (label, value) in enumerate(items):
        y = top + i * row
        bar_w = plot_w * value / scale_max
        shown = fmt(value)
        parts.append('<g class="bar">')
        parts.append(f"<title>{_esc(label)}: {_esc(shown)}</title>")
        parts.append(
            f'<text x="{left - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{_esc(_short(label))}</text>"
        )
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{max(bar_w, 0.0):.1f}" height="{row - 8}" fill="{MARK}"/>')
        parts.append(f'<text x="{left + bar_w + 6:.1f}" y="{y + row / 2 + 4:.1f}" fill="{TEXT}">{_esc(shown)}</text>')
        parts.append("</g>")
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{TEXT}"/>')
    parts.append("</svg>")
    return "\n".join(parts)


def line_chart(
    points: Sequence[tuple[date | str, float | None]],
    *,
    title: str,
    y_label: str = "",
    fmt: Formatter = _fmt_number,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 640,
    height: int = 260,
    chart_id: str | None = None,
    empty_message: str = "No data for this period.",
) -> str:
    """A line over (x label, value) points in order; a None value leaves a gap (a day without data).

    `y_min`/`y_max` fix the axis (e.g. -1..1 for sentiment, 0..1 for a rate) so days compare across views."""
    cid = _chart_id("line", title, chart_id)
    values = [v for _, v in points if v is not None]
    if not values:
        return _empty(cid, width, height, title, empty_message)
    for x_label, v in points:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"line chart {title!r}: value {v!r} at {x_label!r} is not a finite number")
    low = min(values) if y_min is None else min(y_min, min(values))
    high = max(values) if y_max is None else max(y_max, max(values))
    if y_min is None and low > 0:
        low = 0.0
    ticks = nice_ticks(low, high, 5)
    lo, hi = ticks[0], ticks[-1]
    left, right, top, bottom = 64, 32, 40, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)

    def px(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    desc = f"Line chart, {n} points from {_label(points[0][0])} to {_label(points[-1][0])}"
    if y_label:
        desc += f", {y_label}"
    parts = _open(cid, width, height, title, desc)
    tick_fmt = _tick_formatter(ticks, fmt)
    for tick in ticks:
        y = py(tick)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{_esc(tick_fmt(tick))}</text>'
        )
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{TEXT}"/>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{TEXT}"/>')
    every = max(1, math.ceil(n / 8))
    for i, (x_value, _) in enumerate(points):
        last_fits = i == n - 1 and (n - 1) % every >= every / 2  # the last day, unless it would touch a neighbour
        if i % every == 0 or last_fits:
            parts.append(
                f'<text x="{px(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{MUTED}">'
                f"{_esc(_short(_axis_label(x_value), 12))}</text>"
            )
    if y_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" fill="{MUTED}">'
            f"{_esc(y_label)}</text>"
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{px(i):.1f},{py(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline fill="none" stroke="{MARK}" stroke-width="2" points="{" ".join(seg)}"/>')
    for i, (x_value, v) in enumerate(points):
        if v is None:
            continue
        parts.append(
            f'<circle class="point" cx="{px(i):.1f}" cy="{py(v):.1f}" r="3.5" fill="{MARK}">'
            f"<title>{_esc(_label(x_value))}: {_esc(fmt(v))}</title></circle>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _tick_formatter(ticks: Sequence[float], fmt: Formatter) -> Formatter:
    """Axis ticks all with the same number of decimals (0, 0.5, 1 → 0.0, 0.5, 1.0) when the default format is used."""
    if fmt is not _fmt_number or len(ticks) < 2:
        return fmt
    step = abs(ticks[1] - ticks[0])
    decimals = 0
    while decimals < 4 and abs(round(step, decimals) - step) > 1e-9:
        decimals += 1
    return lambda v: f"{v:,.{decimals}f}"


def _axis_label(value: date | str) -> str:
    """Short x labels ("3 Nov"); the full date is in each point's tooltip and the chart's description."""
    return f"{value.day} {value:%b}" if isinstance(value, date) else str(value)


def _label(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
