"""Request and response models of the crowd's endpoints: chunks to transcribe, transcriptions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from voicepipe.db.crowd import ChunkAccess
from voicepipe.domain.recordings import ChunkStatus


class ChunkOut(BaseModel):
    """A chunk as a contributor sees it; consensus_text and confidence only for the recording's
    owner and admins (a contributor should hear, not copy)."""

    chunk_id: int
    recording_id: int
    position: int
    start_s: float
    end_s: float
    duration_s: float
    status: ChunkStatus
    transcription_count: int
    consensus_text: str | None = None
    confidence: float | None = None
    audio_url: str = Field(description="the chunk's FLAC audio (Range requests work)")

    @classmethod
    def of(cls, chunk: ChunkAccess, show_consensus: bool) -> ChunkOut:
        return cls(
            chunk_id=chunk.id, recording_id=chunk.recording_id, position=chunk.position,
            start_s=chunk.start_s, end_s=chunk.end_s,
            duration_s=round(chunk.end_s - chunk.start_s, 3), status=chunk.status,
            transcription_count=chunk.transcription_count,
            consensus_text=chunk.consensus_text if show_consensus else None,
            confidence=chunk.confidence if show_consensus else None,
            audio_url=f"/api/chunks/{chunk.id}/audio",
        )  # fmt: skip


class TranscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        description="what you heard; not empty, at most VOICEPIPE_TRANSCRIPTION_MAX_CHARS "
        "characters, no control characters but tabs and line breaks"
    )


class TranscriptionCreated(BaseModel):
    transcription_id: int
    chunk_id: int
    transcription_count: int = Field(description="the chunk's transcriptions, yours included")
    consensus_job_id: str | None = Field(
        description="the consensus job your transcription queued; null when one was queued "
        "already (it reads yours too) or the chunk needs more first"
    )
