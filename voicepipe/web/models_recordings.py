"""Request and response models of the recordings, chunks and batches API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from voicepipe.domain.quality import AudioQuality
from voicepipe.domain.recordings import Chunk, ChunkStatus, ErrorKind, Recording, RecordingStatus
from voicepipe.web.models import PageQuery, Text, Timestamp


class UploadAccepted(BaseModel):
    recording_id: int
    job_id: str | None = Field(description="the job that processes it (GET /api/jobs/info/…)")
    status: RecordingStatus


class RecordingOut(BaseModel):
    """A recording: its processing state, what the audio is and how good it sounds."""

    id: int
    owner_id: int | None
    title: str | None
    original_name: str
    content_type: str | None
    format: str | None = Field(description="sniffed from the content, not the name")
    size_bytes: int
    sha256: str | None
    status: RecordingStatus
    duration_s: float | None
    sample_rate_hz: int | None
    channels: int | None
    chunk_count: int
    quality: AudioQuality | None
    quality_flags: list[str] = Field(description="why the audio is below a quality threshold")
    detector: str | None
    job_id: str | None
    error: str | None
    error_kind: ErrorKind | None
    created_at: datetime
    processed_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, recording: Recording) -> RecordingOut:
        return cls.model_validate(recording.model_dump(exclude={"storage_name"}))


class RecordingListQuery(PageQuery):
    status: list[RecordingStatus] = Field(default_factory=list, description="any of these")
    q: Annotated[Text, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="substring of the title or the uploaded file's name"
    )
    created_after: Timestamp | None = Field(default=None, description="inclusive")
    created_before: Timestamp | None = Field(default=None, description="exclusive")


class RecordingPage(BaseModel):
    items: list[RecordingOut]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class RecordingDeleted(BaseModel):
    recording_id: int
    deleted: bool = True
    chunks: int = Field(description="chunk rows (and files) deleted")
    transcriptions: int = Field(description="transcriptions of those chunks deleted")
    job_id: str | None
    job_outcome: str | None = Field(
        description="its processing job: cancelled, stopping (still ending), or null if none ran"
    )


class RecordingChunkQuery(PageQuery):
    limit: int = Field(default=500, ge=1, le=1000, description="chunks per page")


class RecordingChunk(BaseModel):
    chunk_id: int
    position: int
    start_s: float
    end_s: float
    status: ChunkStatus
    consensus_text: str | None
    confidence: float | None
    transcription_count: int
    forced_cut: bool = Field(description="cut inside speech: no pause was near enough")
    quality: AudioQuality | None

    @classmethod
    def of(cls, chunk: Chunk) -> RecordingChunk:
        return cls.model_validate(chunk.model_dump() | {"chunk_id": chunk.id})


class RecordingChunkPage(BaseModel):
    items: list[RecordingChunk]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class RejectedFile(BaseModel):
    file: str = Field(description="the name the file was sent with")
    status: int = Field(description="the HTTP status it would have had alone")
    reason: str
    recording_id: int | None = Field(default=None, description="for a duplicate: the one it is")


class BatchAccepted(BaseModel):
    batch_id: str
    job_id: str = Field(description="the batch_process_recordings job")
    recordings: list[UploadAccepted]
    rejected: list[RejectedFile]


class BatchJobOut(BaseModel):
    job_id: str
    recording_id: int | None
    status: str


class BatchOut(BaseModel):
    """A batch's progress; `jobs` lists the per-recording jobs recorded so far."""

    batch_id: str
    name: str
    owner_id: int | None
    total: int
    done: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: datetime
    closed_at: datetime | None
    jobs: list[BatchJobOut]
