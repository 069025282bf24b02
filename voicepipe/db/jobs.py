"""SQL for recorded jobs: folding event batches into rows, the timeline, and the job lists."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg

from voicepipe.domain.job_fold import COMMON_FIELDS, JobDelta, StreamId
from voicepipe.domain.job_info import JobEvent, JobInfo

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

JOB_COLUMNS = """task_id, task_name, status, queue, priority, created_at, scheduled_for, started_at,
    completed_at, progress, result, error, traceback, retry_count, max_retries, metadata, worker,
    args, parent_id, batch_id, retry_of, owner_id, updated_at"""

# Status and the fields that go with it come from the newest lifecycle event (see job_fold).
_NEWER = """(EXCLUDED.last_event_ms IS NOT NULL AND (j.last_event_ms IS NULL
    OR (EXCLUDED.last_event_ms, EXCLUDED.last_event_seq) > (j.last_event_ms, j.last_event_seq)))"""
_NEWER_PROGRESS = """(EXCLUDED.progress_ms IS NOT NULL AND (j.progress_ms IS NULL
    OR (EXCLUDED.progress_ms, EXCLUDED.progress_seq) > (j.progress_ms, j.progress_seq)))"""
_FIRST_SEEN = "(EXCLUDED.queued_seen AND NOT j.queued_seen)"
_STATE_COLUMNS = ("status", "retry_count", "worker", "error", "traceback", "result",
                  "completed_at", "last_event_ms", "last_event_seq")  # fmt: skip
_QUEUED_COLUMNS = (
    "args",
    "max_retries",
    "metadata",
    "owner_id",
    "parent_id",
    "batch_id",
    "retry_of",
)


def _case(condition: str, column: str) -> str:
    return f"{column} = CASE WHEN {condition} THEN EXCLUDED.{column} ELSE j.{column} END"


_UPSERT = f"""
INSERT INTO jobs AS j (task_id, task_name, queue, priority, status, created_at, scheduled_for,
    started_at, started_try, completed_at, progress, progress_ms, progress_seq, result, error,
    traceback, retry_count, max_retries, metadata, worker, args, parent_id, batch_id, retry_of,
    owner_id, queued_seen, last_event_ms, last_event_seq)
SELECT d.task_id, d.task_name, d.queue, d.priority, coalesce(d.status, 'started'),
    to_timestamp(d.created_s), to_timestamp(d.scheduled_s), to_timestamp(d.started_s),
    d.started_try, to_timestamp(d.completed_s), d.progress::jsonb, d.progress_ms, d.progress_seq,
    d.result::jsonb, d.error, d.traceback, d.retry_count, coalesce(d.max_retries, 0),
    coalesce(d.metadata::jsonb, '{{}}'), d.worker, coalesce(d.args::jsonb, '{{}}'), d.parent_id,
    d.batch_id, d.retry_of, u.id, d.queued_seen, d.last_ms, d.last_seq
FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::text[], $6::float8[],
            $7::float8[], $8::float8[], $9::int4[], $10::float8[], $11::text[], $12::int8[],
            $13::int8[], $14::text[], $15::text[], $16::text[], $17::int4[], $18::int4[],
            $19::text[], $20::text[], $21::text[], $22::text[], $23::text[], $24::text[],
            $25::int8[], $26::bool[], $27::int8[], $28::int8[])
    AS d(task_id, task_name, queue, priority, status, created_s, scheduled_s, started_s,
         started_try, completed_s, progress, progress_ms, progress_seq, result, error, traceback,
         retry_count, max_retries, metadata, worker, args, parent_id, batch_id, retry_of,
         owner_id, queued_seen, last_ms, last_seq)
LEFT JOIN users u ON u.id = d.owner_id  -- an owner deleted meanwhile must not fail the batch
ON CONFLICT (task_id) DO UPDATE SET
    {", ".join(_case(_NEWER, c) for c in _STATE_COLUMNS)},
    {", ".join(_case(_FIRST_SEEN, c) for c in _QUEUED_COLUMNS)},
    {_case(_NEWER_PROGRESS, "progress")}, {_case(_NEWER_PROGRESS, "progress_ms")},
    {_case(_NEWER_PROGRESS, "progress_seq")},
    queued_seen = j.queued_seen OR EXCLUDED.queued_seen,
    created_at = least(j.created_at, EXCLUDED.created_at),
    scheduled_for = greatest(j.scheduled_for, EXCLUDED.scheduled_for),
    started_at = CASE
        WHEN EXCLUDED.started_try IS NULL THEN j.started_at
        WHEN j.started_try IS NULL OR EXCLUDED.started_try > j.started_try THEN EXCLUDED.started_at
        WHEN EXCLUDED.started_try = j.started_try THEN least(j.started_at, EXCLUDED.started_at)
        ELSE j.started_at END,
    started_try = greatest(j.started_try, EXCLUDED.started_try),
    updated_at = now()
"""


def _json(value: Any) -> str | None:
    """JSON text for a jsonb column; PostgreSQL refuses the NUL character, so it is dropped."""
    if value is None:
        return None
    text = json.dumps(value, default=str, separators=(",", ":"))
    return _json(_without_nul(value)) if "\\u0000" in text else text


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(str(k)): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(v) for v in value]
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value).replace("\x00", "")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _delta_row(d: JobDelta) -> tuple[Any, ...]:
    queued = d.queued or {}
    state = d.state
    return (
        d.job_id, d.task, d.queue, d.priority, state.status.value if state else None,
        d.created_at_s, d.scheduled_for_s, d.started_at_s, d.started_try,
        state.completed_at_s if state else None, _json(d.progress),
        d.progress_id[0] if d.progress_id else None, d.progress_id[1] if d.progress_id else None,
        _json(state.result) if state else None, _text(state.error) if state else None,
        _text(state.traceback) if state else None, state.retry_count if state else 0,
        _int(queued.get("max_retries")), _json(queued.get("metadata")),
        _text(state.worker) if state else None, _json(queued.get("args")),
        _text(queued.get("parent_id")), _text(queued.get("batch_id")),
        _text(queued.get("retry_of")), _int(queued.get("owner_id")), d.queued is not None,
        d.state_id[0] if d.state_id else None, d.state_id[1] if d.state_id else None,
    )  # fmt: skip


async def upsert_jobs(conn: Conn, deltas: list[JobDelta]) -> None:
    """Merge one delta per job into `jobs` in one statement (one delta per job id, or it fails)."""
    if not deltas:
        return
    # Rows are locked in input order: the same order in every recorder means no deadlock between them.
    ordered = sorted(deltas, key=lambda d: d.job_id)
    columns = list(zip(*(_delta_row(d) for d in ordered), strict=True))
    await conn.execute(_UPSERT, *columns)


async def insert_events(conn: Conn, raw_events: list[tuple[StreamId, str]]) -> None:
    """Add timeline rows from the events' JSON as written to the stream (parsed by PostgreSQL,
    which saves the recorder re-encoding it); an entry already recorded is skipped."""
    if not raw_events:
        return
    await conn.execute(
        """INSERT INTO job_events (task_id, event, at, try, worker, data, stream_ms, stream_seq)
           SELECT e->>'job_id', e->>'event', to_timestamp((e->>'at')::float8), (e->>'try')::int4,
                  e->>'worker', e - $4::text[], ms, seq
           FROM (SELECT raw::jsonb AS e, ms, seq
                 FROM unnest($1::text[], $2::int8[], $3::int8[]) AS r(raw, ms, seq)) AS events
           ON CONFLICT (stream_ms, stream_seq) DO NOTHING""",
        [_clean_json_text(raw) for _, raw in raw_events],
        [stream_id[0] for stream_id, _ in raw_events],
        [stream_id[1] for stream_id, _ in raw_events],
        sorted(COMMON_FIELDS),
    )


def _clean_json_text(raw: str) -> str:
    """The event's JSON, re-encoded without NUL characters only if it has any (rare)."""
    if "\\u0000" not in raw:
        return raw
    return _json(json.loads(raw)) or "null"


def job_info(row: asyncpg.Record) -> JobInfo:
    return JobInfo.model_validate(dict(row))


async def job_by_id(conn: Conn, job_id: str) -> JobInfo | None:
    row = await conn.fetchrow(f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = $1", job_id)
    return job_info(row) if row else None


async def jobs_by_ids(conn: Conn, job_ids: list[str]) -> dict[str, JobInfo]:
    rows = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE task_id = ANY($1::text[])", job_ids
    )
    return {row["task_id"]: job_info(row) for row in rows}


async def timeline(conn: Conn, job_id: str) -> list[JobEvent]:
    rows = await conn.fetch(
        """SELECT event, at, try AS try_number, worker, coalesce(data, '{}') AS data
           FROM job_events WHERE task_id = $1 ORDER BY stream_ms, stream_seq, id""",
        job_id,
    )
    return [JobEvent.model_validate(dict(row)) for row in rows]


async def count_with_status(conn: Conn, job_ids: list[str], status: str) -> int:
    """How many of `job_ids` are recorded with `status` (the benchmarks' check that nothing was lost)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM jobs WHERE task_id = ANY($1::text[]) AND status = $2", job_ids, status
    )
    return count
