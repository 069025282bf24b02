"""What a recording's page shows: its facts and quality, the chunk timeline over its waveform,
and one page of chunks with their players, transcriptions and consensus; every part bounded, so
a 60-minute recording of 400 chunks still makes a page of well under 200 KB."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicepipe.db.recordings import ChunkSpan, ChunkTranscription
from voicepipe.db.users import UserRow
from voicepipe.domain.quality import AudioQuality, QualityThresholds, quality_flags
from voicepipe.domain.recordings import Chunk, Recording
from voicepipe.resources import Resources
from voicepipe.services import recordings
from voicepipe.services.processing import quality_thresholds
from voicepipe.web.pages.recordings_timeline import clock, status_text, timeline

CHUNKS_PER_PAGE = 25
MAX_BANDS = 1000  # chunks drawn on the timeline; a recording has a few hundred at most
TRANSCRIPTIONS_PER_CHUNK = 10
LIVE_STATUSES = ("uploaded", "processing")  # the page follows the processing job until it ends


@dataclass(frozen=True)
class ChunkView:
    chunk: Chunk
    anchor: str
    times: str
    length_s: float
    status: str
    flags: list[str]
    audio_url: str
    transcriptions: list[ChunkTranscription]
    more: int  # transcriptions not shown


async def detail_context(
    resources: Resources, user: UserRow, viewer: int | None, recording_id: int, after: str | None
) -> dict[str, Any]:
    detail = await recordings.recording_detail(
        resources, viewer, recording_id, chunk_limit=CHUNKS_PER_PAGE, chunk_cursor=after,
        max_spans=MAX_BANDS, per_chunk=TRANSCRIPTIONS_PER_CHUNK,
    )  # fmt: skip
    recording = detail.recording
    thresholds = quality_thresholds(resources.settings)
    page = detail.chunks
    shown = {c.position for c in page.items}
    base = f"/recordings/{recording.id}"

    def band_href(span: ChunkSpan) -> str:
        if span.position in shown:
            return f"#chunk-{span.position}"
        first = (span.position - 1) // CHUNKS_PER_PAGE * CHUNKS_PER_PAGE
        # relative to the page: the query alone keeps every band short
        return f"?after={first}#chunk-{span.position}" if first else f"{base}#chunk-{span.position}"

    drawn = recording.duration_s is not None and bool(detail.spans)
    context: dict[str, Any] = {
        "recording": recording,
        "name": recording.title or recording.original_name,
        "facts": facts(recording),
        "quality": quality_rows(recording.quality),
        "timeline": timeline(recording.duration_s or 0.0, detail.waveform, detail.spans, band_href)
        if drawn
        else None,
        "bands_cut": recording.chunk_count > len(detail.spans),
        "chunks": [
            _chunk_view(c, base, thresholds, detail.transcriptions.get(c.id, []))
            for c in page.items
        ],
        "show_emails": viewer is None,
        "first_chunks_url": base if after else None,
        "next_chunks_url": f"{base}?after={page.next_cursor}#chunks" if page.next_cursor else None,
        "chunk_range": _range(page.items, recording.chunk_count),
        "live": "job" if recording.status in LIVE_STATUSES and recording.job_id else "",
    }
    if context["live"]:
        context["live_job"] = recording.job_id
    return context


def _chunk_view(
    chunk: Chunk, base: str, thresholds: QualityThresholds, written: list[ChunkTranscription]
) -> ChunkView:
    return ChunkView(
        chunk=chunk, anchor=f"chunk-{chunk.position}",
        times=f"{clock(chunk.start_s)}–{clock(chunk.end_s)}",
        length_s=chunk.end_s - chunk.start_s, status=status_text(chunk.status),
        flags=quality_flags(chunk.quality, thresholds) if chunk.quality else [],
        audio_url=f"{base}/chunks/{chunk.id}/audio", transcriptions=written,
        more=max(0, chunk.transcription_count - len(written)),
    )  # fmt: skip


def _range(items: list[Chunk], total: int) -> str:
    if not items:
        return ""
    return f"Chunks {items[0].position}–{items[-1].position} of {total}"


def facts(recording: Recording) -> list[tuple[str, str]]:
    """Label and value of what is known about the recording's file."""
    rate = recording.sample_rate_hz
    channels = recording.channels
    return [
        ("File", recording.original_name),
        ("Format", (recording.format or "unknown").upper()),
        ("Size", f"{recording.size_bytes / 2**20:,.1f} MiB" if recording.size_bytes >= 2**20
                 else f"{recording.size_bytes / 1024:,.0f} KiB"),
        ("Sample rate", f"{rate:,} Hz" if rate else "—"),
        ("Channels", {1: "mono", 2: "stereo"}.get(channels or 0, str(channels or "—"))),
        ("Speech detector", recording.detector or "—"),
        ("Chunks", str(recording.chunk_count)),
    ]  # fmt: skip


def quality_rows(quality: AudioQuality | None) -> list[tuple[str, str]]:
    if quality is None:
        return []
    return [
        ("Speech level", f"{quality.speech_dbfs:.1f} dBFS"),
        ("Overall level", f"{quality.rms_dbfs:.1f} dBFS"),
        ("Peak", f"{quality.peak_dbfs:.1f} dBFS"),
        ("Signal to noise", f"{quality.snr_db:.1f} dB"),
        ("Clipping", f"{quality.clipping_ratio * 100:.2g} % of samples"),
        ("Speech", f"{quality.speech_ratio * 100:.0f} % of the time"),
        ("Spectral flatness", f"{quality.spectral_flatness:.2f}"),
    ]
