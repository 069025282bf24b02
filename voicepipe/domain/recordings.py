"""Recordings and their chunks as the platform stores and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from voicepipe.domain.quality import AudioQuality

RecordingStatus = Literal["uploaded", "processing", "processed", "failed"]
ChunkStatus = Literal["awaiting_transcriptions", "needs_more", "consensus", "expert_review"]
ErrorKind = Literal["permanent", "transient"]


class Recording(BaseModel):
    id: int
    owner_id: int | None
    title: str | None
    original_name: str
    storage_name: str
    content_type: str | None
    format: str | None  # sniffed from the content: wav, flac, mp3, ogg, webm, mp4, aiff, caf
    size_bytes: int
    sha256: str | None
    duration_s: float | None
    sample_rate_hz: int | None
    channels: int | None
    status: RecordingStatus
    error: str | None
    error_kind: ErrorKind | None
    job_id: str | None
    chunk_count: int
    quality: AudioQuality | None
    quality_flags: list[str]
    detector: str | None
    reprocess_count: int
    created_at: datetime
    processed_at: datetime | None
    updated_at: datetime


class Chunk(BaseModel):
    id: int
    recording_id: int
    position: int
    start_s: float
    end_s: float
    storage_name: str
    forced_cut: bool
    status: ChunkStatus
    consensus_text: str | None
    confidence: float | None
    transcription_count: int
    quality: AudioQuality | None
    created_at: datetime
    updated_at: datetime
