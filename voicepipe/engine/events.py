"""Job lifecycle events: one JSON shape, written to the event stream and published live.

Every event has: event, job_id, task, queue, at (epoch seconds), try (1-based), priority, worker,
and owner_id: the id of the user whose job it is, null for a system job (the job definition holds
it, so whoever writes an event knows it; the live feed routes events by it, no lookup needed). It
is absent only where the owner cannot be known: a job definition written before owners were
stored in it (a rolling upgrade), a definition unreadable or expired before a claim, and events
written by an older version; a reader then asks the job's recorded row.
Some carry more:
  queued     args, max_retries, eta (epoch s or null), parent_id, batch_id, retry_of, metadata
  started    -
  progress   progress {"current", "total", "info"}
  retry      error, traceback, eta (when the next try is due)
  success    result, runtime_s
  failure    error, traceback, runtime_s
  cancelled  reason
  stale      outcome (the event a worker's late finish, retry or hand-back would have written: it
             came after the job was released to run again elsewhere, and changed nothing)
A stream entry, and a message on the live channel, carries one or more events, one JSON per line
(JSON text never holds a raw newline): a worker writes a batch of jobs' events as one entry. Their
position in the stream orders events (domain.job_fold.event_position); the recorder folds them
into the `jobs` table by that order.
"""

from __future__ import annotations

import enum
import json
import time
from typing import Any, Final, Literal

from redis.asyncio.client import Pipeline

from voicepipe import keys

EventType = Literal[
    "queued", "started", "progress", "retry", "success", "failure", "cancelled", "stale"
]


class _Unknown(enum.Enum):
    OWNER = "unknown"


# The owner of a job whose definition does not say (written before owners were stored in it):
# its events leave owner_id out, so readers look it up rather than take it for a system job's.
UNKNOWN_OWNER: Final = _Unknown.OWNER
OwnerId = int | None | Literal[_Unknown.OWNER]


def make_event(
    event: EventType,
    *,
    job_id: str,
    task: str,
    queue: str,
    try_number: int,
    priority: int,
    owner_id: OwnerId = UNKNOWN_OWNER,
    worker: str | None = None,
    at: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    made = {
        "event": event,
        "job_id": job_id,
        "task": task,
        "queue": queue,
        "at": time.time() if at is None else at,
        "try": try_number,
        "priority": priority,
        "worker": worker,
        **extra,
    }
    if owner_id is not UNKNOWN_OWNER:
        made["owner_id"] = owner_id
    return made


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, default=str, separators=(",", ":"))


def join(encoded: list[str]) -> str:
    """Several encoded events as one stream entry or live message."""
    return "\n".join(encoded)


def split(data: bytes | str) -> list[str]:
    """The encoded events in a stream entry or live message."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else data
    return text.split("\n")


def add_to(pipe: Pipeline, event: dict[str, Any], live: bool = True) -> None:
    """Queue the event on `pipe`: durable in the stream, and published for live views if `live`."""
    data = encode(event)
    pipe.xadd(keys.EVENTS, {"e": data})
    if live:
        pipe.publish(keys.LIVE, data)
