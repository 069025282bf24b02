"""Batches: many jobs enqueued under one id, told to their owner once, when the last finishes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from voicepipe.domain.notifications import Level


class BatchSummary(BaseModel):
    """A batch and how its jobs ended (jobs still running count in none of the outcomes)."""

    id: str
    name: str
    owner_id: int | None
    total: int
    succeeded: int
    failed: int
    cancelled: int
    created_at: datetime
    closed_at: datetime | None

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed + self.cancelled


def batch_level(summary: BatchSummary) -> Level:
    """How the end of a batch is told: success when every job succeeded."""
    if summary.failed == summary.total:
        return "error"
    if summary.failed or summary.cancelled:
        return "warning"
    return "success"


def batch_message(summary: BatchSummary) -> str:
    parts = [f"{summary.succeeded} of {summary.total} jobs succeeded"]
    if summary.failed:
        parts.append(f"{summary.failed} failed")
    if summary.cancelled:
        parts.append(f"{summary.cancelled} were cancelled")
    return ", ".join(parts)
