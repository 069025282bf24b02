"""Pure helpers of the monitoring views: time windows, throughput buckets, page cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voicepipe.domain.job_info import decode_cursor, encode_cursor
from voicepipe.domain.job_views import bucket_seconds, parse_window
from voicepipe.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("24H", timedelta(hours=24)),
        (" 7d ", timedelta(days=7)),
        ("1.5h", timedelta(minutes=90)),
        ("2w", timedelta(days=14)),
        (3600, timedelta(hours=1)),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_windows_parse(text: str | int | timedelta, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("bad", ["", "1", "h", "-1h", "1y", "0m", "400d", 0, timedelta(0)])
def test_bad_windows_are_refused_with_a_message(bad: str | int | timedelta) -> None:
    with pytest.raises(InvalidInput):
        parse_window(bad)


@pytest.mark.parametrize(
    ("window", "bucket_s"),
    [
        (timedelta(minutes=10), 60),
        (timedelta(hours=6), 60),  # 360 one-minute points
        (timedelta(hours=6, minutes=1), 120),
        (timedelta(hours=24), 240),
        (timedelta(days=7), 1680),
    ],
)
def test_buckets_are_whole_minutes_and_few(window: timedelta, bucket_s: int) -> None:
    assert bucket_seconds(window) == bucket_s
    assert window.total_seconds() / bucket_s <= 360


def test_cursors_round_trip() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, "job-1")) == (at, "job-1")


@pytest.mark.parametrize("bad", ["", "nonsense", "W10=", encode_cursor(datetime(2025, 1, 1), "x")])
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(bad)
