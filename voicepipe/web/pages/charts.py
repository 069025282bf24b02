"""Charts as data: bar geometry, a y scale with round ticks and the labels, computed from a series
for templates/partials/chart.html to draw as inline SVG. Readable without hovering: both axes are
labelled and the bars' values are written above them (the partial adds them all as a table)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# The drawing's own units (the SVG viewBox); CSS scales it to its box.
WIDTH = 560
HEIGHT = 220
MARGIN_LEFT = 44  # room for the y tick labels
MARGIN_TOP = 18  # room for the tallest bar's value
MARGIN_RIGHT = 8
MARGIN_BOTTOM = 26  # room for the x labels
MAX_X_LABELS = 8
MAX_BARS = 24
MAX_BAR_WIDTH = 72  # a few bars stay bars, not blocks
DENSE_BARS = 8  # more bars than this need the chart's full width to stay readable
CHAR_WIDTH = 6.6  # about how wide a character of the chart's 11px text is
PHONE_TEXT_SCALE = 15 / 11  # app.css writes a chart of few bars in 15px text at phone width
TICK_GAP = 6  # between a y tick label and the plot (templates/partials/chart.html)
TEXT_GAP = 6  # between two labels side by side


@dataclass(frozen=True)
class Datum:
    """One bar to draw: its axis label, its value (None: nothing to measure) and its CSS class."""

    label: str
    value: float | None
    css: str = "bar"
    text: str | None = None  # the value as written on the bar, when not just the number
    title: str | None = None  # a longer description (the bar's <title>)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    text: str  # written above the bar ("" for none)
    text_y: float
    label: str  # written under the axis ("" when another bar's label stands for it)
    title: str
    css: str

    @property
    def center(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class BarChart:
    title: str
    y_caption: str  # what the bars measure ("jobs finished", "% failed")
    x_caption: str  # what each bar stands for ("period", "window")
    bars: list[Bar]
    ticks: list[Tick]
    rows: list[tuple[str, str]]  # every bar's label and value, for the table beside the chart
    empty_text: str  # written across the plot when no bar has a height
    width: int = WIDTH
    height: int = HEIGHT
    left: float = MARGIN_LEFT
    top: float = MARGIN_TOP
    right: float = WIDTH - MARGIN_RIGHT
    bottom: float = HEIGHT - MARGIN_BOTTOM
    tick_gap: float = TICK_GAP

    @property
    def empty(self) -> bool:
        return not any(bar.height for bar in self.bars)

    @property
    def dense(self) -> bool:
        return len(self.bars) > DENSE_BARS


def nice_step(span: float, count: int = 4) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) dividing `span` into about `count`."""
    if span <= 0 or count < 1:
        return 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10 * power


def scale(max_value: float, count: int = 4, integer: bool = True) -> tuple[float, float]:
    """The y axis top and tick step for values up to `max_value`: the top a whole number of
    steps, whole steps for counts (no tick at 0.5 jobs)."""
    if max_value <= 0:
        return (float(count) if integer else 1.0), (1.0 if integer else 1.0 / count)
    step = nice_step(max_value, count)
    if integer:
        step = max(1.0, math.ceil(step))
    return step * math.ceil(max_value / step - 1e-9), step


def compact(value: float, integer: bool = True) -> str:
    """A number short enough to write on a bar: 7, 950, 1.2k, 35k, 4.1M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            scaled = value / limit
            return (
                f"{scaled:.1f}".removesuffix(".0") + suffix
                if scaled < 10
                else f"{scaled:.0f}{suffix}"
            )
    if integer or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2g}" if abs(value) < 1 else f"{value:.1f}".removesuffix(".0")


def percent(rate: float | None) -> str:
    """A rate in [0, 1] as people read it: "0 %", "0.4 %", "12 %", "—" for none."""
    if rate is None:
        return "—"
    value = rate * 100
    if value == 0 or value >= 10:
        return f"{value:.0f} %"
    return f"{value:.1f}".removesuffix(".0") + " %"


def bar_chart(
    data: Sequence[Datum],
    title: str,
    y_caption: str,
    x_caption: str,
    integer: bool = True,
    tick_format: str = "{:g}",
    empty_text: str = "Nothing to show yet",
) -> BarChart:
    """Bars side by side over the plot area, scaled to a round top, their values written above
    them (on every bar where they fit, else on the tallest and every k-th from it; the table beside
    has them all) and their labels under the axis as often as they fit."""
    top_value, step = scale(max((d.value or 0.0 for d in data), default=0.0), integer=integer)
    tick_texts = [tick_format.format(k * step) for k in range(round(top_value / step) + 1)]
    left, top = _left_margin(tick_texts, dense=len(data) > DENSE_BARS), float(MARGIN_TOP)
    plot_w, plot_h = WIDTH - MARGIN_RIGHT - left, HEIGHT - MARGIN_BOTTOM - top
    bottom = top + plot_h
    slot = plot_w / max(1, len(data))
    bar_w = min(slot - min(slot * 0.2, 12.0), MAX_BAR_WIDTH)
    texts = [d.text if d.text is not None else _value_text(d.value, integer) for d in data]
    label_every = _every(slot, [d.label for d in data], len(data) / MAX_X_LABELS)
    value_every = _every(slot, texts, 1)
    tallest = max(range(len(data)), key=lambda i: data[i].value or 0.0, default=-1)
    bars = []
    for i, (datum, text) in enumerate(zip(data, texts, strict=True)):
        height = plot_h * (datum.value or 0.0) / top_value
        written = text if (i - tallest) % value_every == 0 else ""  # the tallest, then every k-th
        bars.append(
            Bar(
                x=round(left + i * slot + (slot - bar_w) / 2, 2), y=round(bottom - height, 2),
                width=round(bar_w, 2), height=round(height, 2), text=written,
                text_y=round(bottom - height - 4, 2),
                label=datum.label if i % label_every == 0 else "",
                title=datum.title or f"{datum.label}: {text or '0'}", css=datum.css,
            )
        )  # fmt: skip
    ticks = [
        Tick(y=round(bottom - plot_h * k * step / top_value, 2), text=text)
        for k, text in enumerate(tick_texts)
    ]
    rows = [(d.label, text or "0") for d, text in zip(data, texts, strict=True)]
    return BarChart(title, y_caption, x_caption, bars, ticks, rows, empty_text, left=left)


def _left_margin(tick_texts: Sequence[str], dense: bool) -> float:
    """Room for the widest y tick label, in the largest text the chart is drawn with."""
    scale_up = 1.0 if dense else PHONE_TEXT_SCALE
    widest = max((len(text) for text in tick_texts), default=0) * CHAR_WIDTH * scale_up
    return max(float(MARGIN_LEFT), round(widest + TICK_GAP + 2, 1))


def _every(slot: float, texts: Sequence[str], at_least: float) -> int:
    """Write every k-th of `texts` (one per bar slot), k the smallest that keeps them apart."""
    widest = max((len(t) for t in texts), default=0) * CHAR_WIDTH + TEXT_GAP
    return max(1, math.ceil(at_least - 1e-9), math.ceil(widest / slot - 1e-9))


def _value_text(value: float | None, integer: bool) -> str:
    return "" if not value else compact(value, integer)


@dataclass(frozen=True)
class Span:
    """Jobs counted over [start, end)."""

    start: datetime
    end: datetime
    count: int


def group_counts(
    rates_per_minute: Sequence[tuple[datetime, float]],
    bucket_s: int,
    until: datetime,
    max_bars: int = MAX_BARS,
) -> list[Span]:
    """A per-minute rate series of `bucket_s` buckets (the last one partial, rated on its length,
    ending at `until`) as job counts over at most `max_bars` consecutive groups of buckets."""
    counts = []
    for start, per_minute in rates_per_minute:
        length_s = min(float(bucket_s), (until - start).total_seconds())
        counts.append((start, round(per_minute * length_s / 60)))
    size = max(1, math.ceil(len(counts) / max_bars))
    spans = []
    for first in range(0, len(counts), size):
        group = counts[first : first + size]
        end = min(group[-1][0] + timedelta(seconds=bucket_s), until)
        spans.append(Span(group[0][0], end, sum(n for _, n in group)))
    return spans


def span_label(start: datetime, whole: timedelta) -> str:
    """A group's axis label: the time of day within a day's window, else the weekday too."""
    return start.strftime("%H:%M") if whole <= timedelta(days=1) else start.strftime("%a %H:%M")


def length_text(span: timedelta) -> str:
    """A group's length as written in a chart title: "3 min", "1 h", "7 h", "2 d"."""
    seconds = round(span.total_seconds())
    for unit_s, unit in ((86_400, "d"), (3600, "h"), (60, "min")):
        if seconds >= unit_s and seconds % unit_s == 0:
            return f"{seconds // unit_s} {unit}"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}".removesuffix(".0") + " h"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
