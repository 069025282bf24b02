"""What the monitoring service says about recorded jobs: JobInfo, timelines, filters and pages."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from voicepipe.domain.jobs import JobStatus
from voicepipe.errors import InvalidInput


class JobInfo(BaseModel):
    """One job's recorded life (the seed's JobInfo, plus worker, args, lineage and owner)."""

    task_id: str
    task_name: str
    status: JobStatus
    queue: str
    priority: int
    created_at: datetime
    scheduled_for: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    progress: Any = None
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    retry_count: int = 0
    max_retries: int = 0
    metadata: dict[str, Any] = Field(default_factory=dict)
    worker: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    batch_id: str | None = None
    retry_of: str | None = None
    owner_id: int | None = None
    updated_at: datetime | None = None

    @property
    def runtime_s(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


class JobEvent(BaseModel):
    """One step of a job's timeline: queued, started, retry, success, failure or cancelled."""

    event: str
    at: datetime
    try_number: int | None = None
    worker: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class JobFilters(BaseModel):
    """Narrows a job list; every field left unset matches everything."""

    statuses: list[JobStatus] = Field(default_factory=list)
    queue: str | None = None
    task_name: str | None = None
    created_after: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    search: str | None = Field(default=None, description="substring of the id, task name or error")
    owner_id: int | None = None
    batch_id: str | None = None


class PageRequest(BaseModel):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page")


class JobPage(BaseModel):
    items: list[JobInfo]
    next_cursor: str | None = Field(default=None, description="None on the last page")


def encode_cursor(at: datetime, task_id: str) -> str:
    """An opaque cursor for the keyset (at DESC, task_id DESC) after the given row."""
    raw = json.dumps([at.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, task_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("the page cursor is not one this server gave out") from exc
    if at.tzinfo is None or not isinstance(task_id, str):
        raise InvalidInput("the page cursor is not one this server gave out")
    return at, task_id
