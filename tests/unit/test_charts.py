"""Chart arithmetic for the admin pages (round scales, bar geometry, labels, grouped series), and
the pages' duration formatting."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from voicepipe.web.pages import charts, render
from voicepipe.web.pages.charts import Datum

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "step"),
    [(4, 1), (7, 2), (10, 2.5), (13, 5), (40, 10), (95, 25), (0.9, 0.25), (1234, 500)],
)
def test_steps_are_round(span: float, step: float) -> None:
    assert charts.nice_step(span) == step


@pytest.mark.parametrize(
    ("max_value", "integer", "top", "step"),
    [
        (0, True, 4, 1),  # nothing yet: an axis of 0..4 jobs, not 0..0
        (3, True, 3, 1),
        (7, True, 8, 2),
        (10, True, 12, 3),  # counts step by whole jobs: 3, not 2.5
        (101, True, 150, 50),
        (0, False, 1, 0.25),
        (25, False, 30, 10),
    ],
)
def test_the_scale_tops_the_highest_value_with_whole_steps(
    max_value: float, integer: bool, top: float, step: float
) -> None:
    assert charts.scale(max_value, integer=integer) == (top, step)


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (7, "7"), (950, "950"), (1000, "1k"), (1234, "1.2k"), (35_400, "35k"),
     (4_100_000, "4.1M"), (0.25, "0.25"), (2.5, "2.5")],
)  # fmt: skip
def test_values_are_short_enough_for_a_bar(value: float, text: str) -> None:
    assert charts.compact(value, integer=value == int(value)) == text


@pytest.mark.parametrize(
    ("rate", "text"), [(None, "—"), (0.0, "0 %"), (0.004, "0.4 %"), (0.25, "25 %"), (1.0, "100 %")]
)
def test_rates_read_as_percentages(rate: float | None, text: str) -> None:
    assert charts.percent(rate) == text


def test_bars_fill_the_plot_in_order_with_heights_proportional_to_their_values() -> None:
    data = [Datum("a", 2), Datum("b", 8), Datum("c", 0), Datum("d", None, text="no jobs")]
    chart = charts.bar_chart(data, "Jobs", "Jobs finished", "Period")
    plot_h = chart.bottom - chart.top
    a, b, c, d = chart.bars
    assert [bar.x for bar in chart.bars] == sorted(bar.x for bar in chart.bars)
    assert a.x >= chart.left and d.x + d.width <= chart.right
    assert b.height == pytest.approx(plot_h)  # 8 is the axis top
    assert a.height == pytest.approx(plot_h / 4)
    assert c.height == 0 and d.height == 0
    assert all(bar.y + bar.height == pytest.approx(chart.bottom) for bar in chart.bars)
    # values written above their bars; a zero bar says nothing, a bar without a value says why
    assert (a.text, b.text, c.text, d.text) == ("2", "8", "", "no jobs")
    assert a.text_y < a.y and b.text_y < b.y
    assert chart.rows == [("a", "2"), ("b", "8"), ("c", "0"), ("d", "no jobs")]
    assert not chart.empty


def test_ticks_run_from_zero_at_the_axis_to_the_top() -> None:
    chart = charts.bar_chart([Datum("x", 7)], "t", "y", "x")
    assert [t.text for t in chart.ticks] == ["0", "2", "4", "6", "8"]
    assert chart.ticks[0].y == pytest.approx(chart.bottom)
    assert chart.ticks[-1].y == pytest.approx(chart.top)


def test_percent_ticks_use_their_format() -> None:
    chart = charts.bar_chart(
        [Datum("1 h", 12.5, text="12 %")], "t", "y", "x", integer=False, tick_format="{:g} %"
    )
    assert chart.ticks[-1].text.endswith(" %") and chart.bars[0].text == "12 %"


def test_an_empty_series_draws_an_axis_and_no_bar() -> None:
    chart = charts.bar_chart([Datum(str(i), 0) for i in range(5)], "t", "y", "x", empty_text="none")
    assert chart.empty and len(chart.ticks) == 5 and chart.empty_text == "none"
    assert charts.bar_chart([], "t", "y", "x").bars == []


def test_long_series_label_only_some_bars() -> None:
    chart = charts.bar_chart([Datum(f"{i:02d}:00", i) for i in range(24)], "t", "y", "x")
    labelled = [bar.label for bar in chart.bars if bar.label]
    assert len(labelled) <= charts.MAX_X_LABELS and labelled[0] == "00:00"
    assert all(bar.title for bar in chart.bars)  # every bar still names itself


def test_a_rate_series_groups_into_job_counts() -> None:
    # 60 one-minute buckets, the last one 30 s long (rated on its length): 2 jobs each
    until = T0 + timedelta(minutes=59, seconds=30)
    rates = [(T0 + timedelta(minutes=k), 2.0) for k in range(59)] + [
        (T0 + timedelta(minutes=59), 4.0)
    ]
    spans = charts.group_counts(rates, 60, until, max_bars=24)
    assert len(spans) == 20  # groups of 3 minutes
    assert all(s.count == 6 for s in spans)
    assert spans[0].start == T0 and spans[0].end == T0 + timedelta(minutes=3)
    assert spans[-1].end == until
    assert sum(s.count for s in spans) == 120


def test_a_short_series_keeps_one_bar_per_bucket() -> None:
    rates = [(T0, 1.0), (T0 + timedelta(minutes=1), 0.0)]
    spans = charts.group_counts(rates, 60, T0 + timedelta(minutes=2))
    assert [s.count for s in spans] == [1, 0]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (180, "3 min"),
        (3600, "1 h"),
        (25_200, "7 h"),
        (172_800, "2 d"),
        (5400, "90 min"),
        (5430, "1.5 h"),
        (30, "30 s"),
    ],
)
def test_group_lengths_read_naturally(seconds: int, text: str) -> None:
    assert charts.length_text(timedelta(seconds=seconds)) == text


def test_labels_name_the_weekday_beyond_a_day() -> None:
    assert charts.span_label(T0, timedelta(hours=24)) == "12:00"
    assert charts.span_label(T0, timedelta(days=7)) == "Tue 12:00"


def test_values_too_wide_for_their_bars_are_written_on_every_other_bar_and_the_tallest() -> None:
    narrow = charts.bar_chart([Datum(str(i), 7) for i in range(24)], "t", "y", "x")
    assert all(bar.text == "7" for bar in narrow.bars)  # one digit fits every bar

    wide = charts.bar_chart([Datum(str(i), 100 + i) for i in range(24)], "t", "y", "x")
    written = [i for i, bar in enumerate(wide.bars) if bar.text]
    assert 23 in written and 1 in written  # the tallest, and every other bar from it
    assert all(b - a > 1 for a, b in itertools.pairwise(written))  # never side by side
    assert len(wide.rows) == 24 and wide.rows[1] == ("1", "101")  # the table still has them all


def test_long_labels_are_spaced_so_they_do_not_touch() -> None:
    chart = charts.bar_chart([Datum(f"Mon {i:02d}:58", i) for i in range(24)], "t", "y", "x")
    centers = [bar.center for bar in chart.bars if bar.label]
    gap = min(b - a for a, b in itertools.pairwise(centers))
    assert gap >= len("Mon 00:58") * charts.CHAR_WIDTH


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.004, "4 ms"), (1.26, "1.3 s"), (42.4, "42 s"), (185, "3 min 5 s"),
     (120, "2 min"), (7800, "2 h 10 min"), (273_600, "3 d 4 h"), (86_400, "1 d")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds: float | None, text: str) -> None:
    assert render.duration(seconds) == text


def test_ages_count_back_from_now() -> None:
    assert render.age(T0 - timedelta(seconds=0.3), now=T0) == "just now"
    assert render.age(T0 - timedelta(minutes=3), now=T0) == "3 min ago"
    assert render.age((T0 - timedelta(seconds=5)).timestamp(), now=T0) == "5 s ago"
    assert render.age(None) == "—"


def test_the_left_margin_holds_the_widest_tick_label_in_the_phones_larger_text() -> None:
    few = charts.bar_chart(
        [Datum("a", 0.6, "bar"), Datum("b", 0.2, "bar")], "t", "y", "x", integer=False,
        tick_format="{:g} %",
    )  # fmt: skip
    widest = max(len(tick.text) for tick in few.ticks)  # "0.2 %" …
    assert few.left > charts.MARGIN_LEFT
    assert few.left - few.tick_gap >= widest * charts.CHAR_WIDTH * charts.PHONE_TEXT_SCALE
    short = charts.bar_chart([Datum("a", 3.0, "bar")], "t", "y", "x")
    assert short.left == charts.MARGIN_LEFT  # "3" fits the usual margin
