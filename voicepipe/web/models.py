"""Request and response models of the JSON API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from voicepipe.domain.job_info import JobEvent, JobInfo
from voicepipe.domain.job_views import ActiveJob, QueueLength
from voicepipe.domain.jobs import JobStatus
from voicepipe.engine.registry import REGISTRY
from voicepipe.settings import QUEUES

# PostgreSQL text cannot hold NUL: the pattern tells schema readers, and such a value is refused.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1970 and 9000")
    return value


def _known_queue(value: str) -> str:
    if value not in QUEUES:
        raise ValueError(f"not one of the queues {', '.join(QUEUES)}")
    return value


def _iso_text(value: object) -> object:
    """Only ISO 8601 text: pydantic would otherwise take a bare number as epoch seconds."""
    if isinstance(value, str) and not ISO_DATE.match(value):
        raise ValueError(
            "must be an ISO 8601 date-time with a time zone, e.g. 2030-01-01T12:00:00Z"
        )
    return value


def _task_names(schema: dict[str, Any]) -> None:
    schema["enum"] = sorted(REGISTRY)


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_range)]


class Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    status: int
    message: str


class Error(BaseModel):
    """Every error: a status and a message a person understands."""

    error: ErrorBody


class PageQuery(Query):
    limit: int = Field(default=50, ge=1, le=500, description="items per page")
    cursor: Annotated[Text, Field(max_length=400)] | None = Field(
        default=None, description="`next_cursor` of the previous page"
    )


class JobListQuery(PageQuery):
    status: list[JobStatus] = Field(default_factory=list, description="any of these statuses")
    queue: Annotated[Text, Field(max_length=100)] | None = None
    task: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="task name"
    )
    created_after: Timestamp | None = Field(default=None, description="inclusive")
    created_before: Timestamp | None = Field(default=None, description="exclusive")
    q: Annotated[Text, Field(min_length=3, max_length=200)] | None = Field(
        default=None, description="substring of the job id, task name or error"
    )


class JobPageOut(BaseModel):
    items: list[JobInfo]
    next_cursor: str | None = Field(default=None, description="null on the last page")


class JobDetail(JobInfo):
    """A job's recorded state and its lifecycle timeline."""

    timeline: list[JobEvent]


class ActiveJobs(BaseModel):
    jobs: list[ActiveJob]


class StatisticsQuery(Query):
    window: Literal["1h", "24h", "7d"] = "24h"


class WorkerInfo(BaseModel):
    """A live worker's last heartbeat."""

    model_config = ConfigDict(extra="allow")

    id: str
    host: str | None = None
    pid: int | None = None
    queues: list[str] = Field(default_factory=list)
    concurrency: int | None = None
    running: list[str] = Field(default_factory=list)
    memory_rss_bytes: int | None = None
    version: str | None = None
    started_at: float | None = None
    seen_ms: int | None = None
    restarts: int = Field(default=0, description="how often its supervisor restarted it")
    last_exit: str | None = Field(
        default=None,
        description="why its previous process ended: max jobs, max memory, admin restart, "
        "crashed (exit code 1), crashed (killed by SIGKILL)…",
    )


class Workers(BaseModel):
    workers: list[WorkerInfo]


class Queues(BaseModel):
    queues: list[QueueLength]


class EnqueueRequest(BaseModel):
    """Enqueue a registered task; `kwargs` are checked against the task's parameters."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(
        max_length=200, description="a registered task", json_schema_extra=_task_names
    )
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: Annotated[Text, Field(max_length=100)] | None = None
    priority: Literal["LOW", "NORMAL", "HIGH", "CRITICAL"] = "NORMAL"
    countdown_s: float | None = Field(default=None, ge=0, le=30 * 86_400)


class Enqueued(BaseModel):
    task_id: str
    task_name: str
    queue: str
    status: Literal[JobStatus.PENDING, JobStatus.SCHEDULED]


class Health(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "unavailable"]


class ActionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["cancel", "retry", "terminate"]
    countdown: float | None = Field(
        default=None, ge=0, le=30 * 86_400, description="seconds before a retry runs"
    )


class PurgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    queue: Annotated[str, AfterValidator(_known_queue)] = Field(
        json_schema_extra={"enum": list(QUEUES)}
    )


class Purged(BaseModel):
    queue: str
    purged: int = Field(description="jobs removed, each recorded as cancelled")


class RetryFailedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    countdown: float | None = Field(
        default=None, ge=0, le=30 * 86_400, description="seconds before the reruns run"
    )


class RetriedFailed(BaseModel):
    new_job_ids: list[str] = Field(description="one rerun per job that was in the dead letter")


class Restarted(BaseModel):
    workers: list[str] = Field(description="ids of the workers that acknowledged the restart")


class EventsState(BaseModel):
    enabled: bool = Field(description="whether live and progress events are sent")


class NotificationQuery(PageQuery):
    unread: bool = Field(default=False, description="only notifications not read yet")


class MarkedRead(BaseModel):
    marked: int = Field(description="notifications marked read")
