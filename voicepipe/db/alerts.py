"""SQL for alerts: failures per task over a recent window, and every alert's state (alert_states)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import asyncpg

from voicepipe.domain.alerts import AlertState

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class TaskOutcomes:
    task: str
    failed: int
    finished: int  # success or failure; cancelled jobs are not counted


async def outcomes_by_task(conn: Conn, since: datetime, until: datetime) -> list[TaskOutcomes]:
    """Jobs each task finished in (since, until] and how many failed: an index-only scan of
    jobs_finished_idx (completed_at, including status and task_name)."""
    rows = await conn.fetch(
        """SELECT task_name, count(*) FILTER (WHERE status = 'failure')::int AS failed,
                  count(*)::int AS finished
           FROM jobs
           WHERE completed_at > $1 AND completed_at <= $2 AND status IN ('success', 'failure')
           GROUP BY task_name ORDER BY task_name""",
        since, until,
    )  # fmt: skip
    return [TaskOutcomes(row["task_name"], row["failed"], row["finished"]) for row in rows]


_COLUMNS = """alert_key, rule, subject, state, state_since, last_notified_at, episode, notices,
    figures, message, evaluated_at,
    (extract(epoch FROM created_at) * 1000)::int8 AS generation"""


async def states(conn: Conn, keys: Sequence[tuple[str, str, str | None]]) -> list[AlertState]:
    """Every alert's state, rows for `keys` (alert key, rule, subject) created first if missing:
    a row's creation time is part of its notices' dedupe keys, so all evaluators must see it."""
    await conn.execute(
        """INSERT INTO alert_states (alert_key, rule, subject)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ORDER BY 1
           ON CONFLICT (alert_key) DO NOTHING""",
        [k for k, _, _ in keys], [r for _, r, _ in keys], [s for _, _, s in keys],
    )  # fmt: skip
    return await known_states(conn)


async def known_states(conn: Conn) -> list[AlertState]:
    """Every alert's state as the last evaluation left it (a read only: for pages)."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM alert_states ORDER BY alert_key")
    return [_state(row) for row in rows]


def _state(row: asyncpg.Record) -> AlertState:
    return AlertState(
        key=row["alert_key"], rule=row["rule"], subject=row["subject"],
        generation=row["generation"], status=row["state"], since=row["state_since"],
        last_notified_at=row["last_notified_at"], episode=row["episode"], notices=row["notices"],
        figures=row["figures"], text=row["message"], evaluated_at=row["evaluated_at"],
    )  # fmt: skip


async def save(conn: Conn, changed: Sequence[AlertState]) -> int:
    """Write the alerts' new states, each unless a later evaluation wrote it already (an
    evaluation that ran long must not undo a newer one); returns the rows written."""
    if not changed:
        return 0
    result: str = await conn.execute(
        """UPDATE alert_states AS a
           SET state = c.state, state_since = c.since, last_notified_at = c.notified,
               episode = c.episode, notices = c.notices, figures = c.figures::jsonb,
               message = c.message, evaluated_at = c.evaluated
           FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int[],
                       $6::int[], $7::text[], $8::text[], $9::timestamptz[])
                AS c (alert_key, state, since, notified, episode, notices, figures, message,
                      evaluated)
           WHERE a.alert_key = c.alert_key
             AND (a.evaluated_at IS NULL OR a.evaluated_at < c.evaluated)""",
        [s.key for s in changed], [s.status for s in changed], [s.since for s in changed],
        [s.last_notified_at for s in changed], [s.episode for s in changed],
        [s.notices for s in changed], [json.dumps(s.figures, default=str) for s in changed],
        [s.text for s in changed], [s.evaluated_at for s in changed],
    )  # fmt: skip
    return int(result.split()[-1])
