"""Folding job lifecycle events into one change per job, so a batch becomes one upsert.

The rules make the result independent of how events are split into batches and of the order in
which batches are applied (two recorders may commit out of stream order):
  - the status and the fields that go with it (retry count, worker, error, traceback, result,
    completed at) are a function of one event alone, and the row keeps them from the event with
    the newest position in the stream it has seen;
  - progress is kept from the newest progress event, on its own position;
  - created_at is the earliest event time (the queued event's, once seen), scheduled_for the
    latest due time, started_at the first start of the highest try;
  - what only the queued event knows (args, max retries, owner, parent, batch, metadata) is
    filled once, whenever that event arrives.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicepipe.domain.jobs import JobStatus

StreamId = tuple[int, int]

# Fields every event has; what is left over is the event's own data (kept in the timeline).
# Progress events are not kept in the timeline: only the latest progress is, on the job.
COMMON_FIELDS = frozenset(
    {"event", "job_id", "task", "queue", "at", "try", "priority", "worker", "owner_id"}
)
TERMINAL_EVENTS = {
    "success": JobStatus.SUCCESS,
    "failure": JobStatus.FAILURE,
    "cancelled": JobStatus.CANCELLED,
}
STATUS_EVENTS = frozenset({"queued", "started", "retry", *TERMINAL_EVENTS})


# A stream entry carries one or more events, one JSON per line (a worker writes a batch of jobs'
# events as one entry). The i-th event of entry ms-seq sits at (ms, seq * EVENTS_PER_ENTRY + i):
# its position, which orders it and which the timeline keeps as (stream_ms, stream_seq).
EVENTS_PER_ENTRY = 1024


def parse_stream_id(raw: bytes | str) -> StreamId:
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def event_position(entry_id: StreamId, index: int) -> StreamId:
    """The position of the `index`-th event of the stream entry `entry_id`."""
    if not 0 <= index < EVENTS_PER_ENTRY:
        raise ValueError(f"a stream entry holds at most {EVENTS_PER_ENTRY} events, not {index + 1}")
    return entry_id[0], entry_id[1] * EVENTS_PER_ENTRY + index


@dataclass(frozen=True)
class JobState:
    """What one lifecycle event says the job is now."""

    status: JobStatus
    retry_count: int
    worker: str | None
    error: str | None
    traceback: str | None
    result: Any
    completed_at_s: float | None


def state_after(event: dict[str, Any]) -> JobState:
    """The job's state right after `event` (a lifecycle event other than progress)."""
    kind = event["event"]
    try_number = int(event.get("try") or 1)
    at_s = float(event["at"])
    worker = event.get("worker")
    if kind == "queued":
        eta_s = event.get("eta")
        status = JobStatus.SCHEDULED if eta_s is not None and eta_s > at_s else JobStatus.PENDING
        return JobState(status, try_number - 1, None, None, None, None, None)
    if kind == "started":
        return JobState(JobStatus.STARTED, try_number - 1, worker, None, None, None, None)
    if kind == "retry":
        # the failed try is `try`: that many retries have been decided so far
        return JobState(
            JobStatus.RETRY, try_number, worker, event.get("error"), event.get("traceback"),
            None, None,
        )  # fmt: skip
    status = TERMINAL_EVENTS[kind]
    error = event.get("reason") if kind == "cancelled" else event.get("error")
    return JobState(
        status, try_number - 1, worker, error, event.get("traceback"), event.get("result"), at_s
    )


@dataclass
class JobDelta:
    """Everything a batch says about one job; the database merges it into the job's row."""

    job_id: str
    task: str
    queue: str
    priority: int
    created_at_s: float
    queued: dict[str, Any] | None = None  # the (earliest) queued event, when in this batch
    queued_id: StreamId | None = None
    scheduled_for_s: float | None = None
    state_id: StreamId | None = None
    state_event: dict[str, Any] | None = None  # the newest lifecycle event other than progress
    started_try: int | None = None
    started_at_s: float | None = None
    progress_id: StreamId | None = None
    progress: Any = None
    event_count: int = field(default=0)

    def apply(self, stream_id: StreamId, event: dict[str, Any]) -> None:
        """Merge one event; events may come in any order."""
        kind = event["event"]
        at_s = float(event["at"])
        self.event_count += 1
        self.created_at_s = min(self.created_at_s, at_s)
        if kind == "queued" and (self.queued_id is None or stream_id < self.queued_id):
            self.queued_id, self.queued = stream_id, event
        due_s = event.get("eta") if kind in ("queued", "retry") else None
        if due_s is not None:
            self.scheduled_for_s = max(self.scheduled_for_s or due_s, float(due_s))
        if kind == "started":
            try_number = int(event.get("try") or 1)
            if self.started_try is None or try_number > self.started_try:
                self.started_try, self.started_at_s = try_number, at_s
            elif try_number == self.started_try and self.started_at_s is not None:
                self.started_at_s = min(self.started_at_s, at_s)
        if kind == "progress":
            if self.progress_id is None or stream_id > self.progress_id:
                self.progress_id, self.progress = stream_id, event.get("progress")
        elif kind in STATUS_EVENTS and (self.state_id is None or stream_id > self.state_id):
            self.state_id, self.state_event = stream_id, event

    @property
    def state(self) -> JobState | None:
        """What the newest lifecycle event says (worked out once per batch, not per event)."""
        return None if self.state_event is None else state_after(self.state_event)


def is_event(value: Any) -> bool:
    """Whether a decoded stream entry has what folding needs."""
    return (
        type(value) is dict
        and type(value.get("job_id")) is str
        and type(value.get("event")) is str
        and type(value.get("at")) in (float, int)
        and type(value.get("task")) is str
        and type(value.get("queue")) is str
    )


def fold(entries: list[tuple[StreamId, dict[str, Any]]]) -> list[JobDelta]:
    """One delta per job of the batch, in order of the job's first entry."""
    deltas: dict[str, JobDelta] = {}
    for stream_id, event in entries:
        delta = deltas.get(event["job_id"])
        if delta is None:
            delta = deltas[event["job_id"]] = JobDelta(
                job_id=event["job_id"],
                task=event["task"],
                queue=event["queue"],
                priority=1 if event.get("priority") is None else int(event["priority"]),
                created_at_s=float(event["at"]),
            )
        delta.apply(stream_id, event)
    return list(deltas.values())
