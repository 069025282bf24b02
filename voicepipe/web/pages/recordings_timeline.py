"""The chunk timeline of a recording's page: its waveform as one compact SVG path, each chunk a
band over it linking to the chunk's entry below, and a time axis; templates/recording.html
draws it, app.css and recordings.css colour it (no inline style: the CSP forbids it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from voicepipe.audio.waveform import Waveform
from voicepipe.db.recordings import ChunkSpan

WIDTH = 1000  # viewBox units; the SVG scales to its card
WAVE_TOP = 4
WAVE_HEIGHT = 92  # the waveform and the bands, above the axis
AXIS_Y = WAVE_TOP + WAVE_HEIGHT + 2
HEIGHT = AXIS_Y + 28  # room for the time marks, larger on a phone
LABEL_UNITS_PER_DIGIT = 7  # a band shows its number only if there is room for it
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 10


@dataclass(frozen=True)
class Band:
    position: int
    x: str
    width: str
    label_x: str
    labelled: bool  # wide enough for its number
    href: str
    title: str
    css: str


@dataclass(frozen=True)
class Tick:
    x: str
    text: str
    anchor: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    wave_top: int
    wave_height: int
    axis_y: int
    wave_path: str | None  # None: no waveform was kept for this recording
    peak_dbfs: float | None  # the loudest peak the drawing is scaled to
    bands: list[Band]
    ticks: list[Tick]


def timeline(
    duration_s: float,
    waveform: Waveform | None,
    spans: Sequence[ChunkSpan],
    href_of: Callable[[ChunkSpan], str],
) -> Timeline:
    """The timeline of a recording `duration_s` long; `href_of` is where a chunk's band links."""
    seconds = max(duration_s, 1e-3)
    path, peak = wave_path(waveform) if waveform is not None and waveform.columns else (None, 0.0)
    return Timeline(
        width=WIDTH, height=HEIGHT, wave_top=WAVE_TOP, wave_height=WAVE_HEIGHT, axis_y=AXIS_Y,
        wave_path=path,
        peak_dbfs=round(20 * float(np.log10(peak)), 1) if path is not None and peak > 0 else None,
        bands=[_band(span, k, seconds, href_of(span)) for k, span in enumerate(spans)],
        ticks=ticks(seconds),
    )  # fmt: skip


def wave_path(waveform: Waveform) -> tuple[str, float]:
    """One closed path, the columns' highs left to right then their lows back, scaled to the
    loudest peak (returned, 0..1) so quiet speech still shows where it is; coordinates rounded
    to whole units (about 14 KB for 1,000 columns)."""
    peak = float(max(np.abs(waveform.mins).max(), np.abs(waveform.maxs).max()))
    gain = (WAVE_HEIGHT / 2) / max(peak, 1e-3)
    middle = WAVE_TOP + WAVE_HEIGHT / 2
    n = waveform.columns
    xs = np.round((np.arange(n) + 0.5) * (WIDTH / n)).astype(int)
    highs = np.round(middle - waveform.maxs * gain).astype(int)
    lows = np.round(middle - waveform.mins * gain).astype(int)
    top = " ".join(f"{x} {y}" for x, y in zip(xs.tolist(), highs.tolist(), strict=True))
    bottom = " ".join(
        f"{x} {y}" for x, y in zip(xs[::-1].tolist(), lows[::-1].tolist(), strict=True)
    )
    return f"M{top}L{bottom}Z", peak


def _band(span: ChunkSpan, index: int, seconds: float, href: str) -> Band:
    x0 = max(0.0, min(span.start_s / seconds, 1.0)) * WIDTH
    x1 = max(0.0, min(span.end_s / seconds, 1.0)) * WIDTH
    width = max(x1 - x0, 0.5)  # a very short chunk stays visible and clickable
    title = (
        f"Chunk {span.position}: {clock(span.start_s)}–{clock(span.end_s)} "
        f"({span.end_s - span.start_s:.1f} s), {status_text(span.status)}"
    )
    return Band(
        position=span.position, x=_num(x0), width=_num(width), label_x=_num(x0 + width / 2),
        labelled=width >= LABEL_UNITS_PER_DIGIT * (len(str(span.position)) + 1),
        href=href, title=title,
        css=f"band band-{'odd' if index % 2 else 'even'} band-{span.status}",
    )  # fmt: skip


def ticks(seconds: float) -> list[Tick]:
    """Time marks under the axis, at a round step giving at most MAX_TICKS of them."""
    step = next((s for s in TICK_STEPS_S if seconds / s <= MAX_TICKS), TICK_STEPS_S[-1])
    marks = []
    at = 0
    while at <= seconds:
        x = at / seconds * WIDTH
        anchor = "start" if at == 0 else "end" if x > WIDTH - 30 else "middle"
        marks.append(Tick(_num(x), clock(at, tenths=False), anchor))
        at += step
    return marks


def clock(seconds: float, tenths: bool = True) -> str:
    """A moment in a recording: "0:04.2", "12:05.0", "1:02:03" (tenths off: "0:04")."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    fraction = f".{int((seconds - whole) * 10)}" if tenths else ""
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}{fraction}"
    return f"{minutes}:{secs:02d}{fraction}"


def status_text(status: str) -> str:
    """A chunk's status as words: "awaiting transcriptions", "needs more", "expert review"."""
    return status.replace("_", " ")


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
