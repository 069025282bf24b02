"""SQL for notifications: one row per recipient, read state, pages newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from voicepipe.domain.notifications import Notification

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

_COLUMNS = """id, recipient_id, title, message, level, channels, audience, job_id, data,
    created_at, read_at"""


def _notification(row: asyncpg.Record) -> Notification:
    return Notification.model_validate(dict(row))


async def insert(
    conn: Conn, channels_of: Mapping[int, Sequence[str]], title: str, message: str, level: str,
    audience: str, job_id: str | None, data: dict[str, Any], dedupe_key: str | None,
) -> list[Notification]:  # fmt: skip
    """One row per recipient (the keys of `channels_of`, each with the channels it goes on); a
    recipient who has a notification with `dedupe_key` already gets none (so a redelivered event
    notifies once). Returns the rows written."""
    rows = await conn.fetch(
        f"""INSERT INTO notifications (recipient_id, title, message, level, channels, audience,
                job_id, data, dedupe_key)
            SELECT r, $3, $4, $5, string_to_array(ch, ','), $6, $7, $8::jsonb, $9
            FROM unnest($1::bigint[], $2::text[]) AS t (r, ch)
            ON CONFLICT (recipient_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
            RETURNING {_COLUMNS}""",
        list(channels_of), [",".join(c) for c in channels_of.values()], title, message, level,
        audience, job_id, data, dedupe_key,
    )  # fmt: skip
    return [_notification(row) for row in rows]


async def page_for(
    conn: Conn, recipient_id: int, limit: int, after: tuple[datetime, int] | None,
    unread_only: bool = False, audience: str | None = None,
) -> list[Notification]:  # fmt: skip
    """The recipient's notifications newest first, after the keyset `after` (created_at, id)."""
    params: list[Any] = [recipient_id, limit]
    where = ["recipient_id = $1", "'database' = ANY (channels)"]
    if unread_only:
        where.append("read_at IS NULL")
    if audience is not None:
        params.append(audience)
        where.append(f"audience = ${len(params)}")
    if after is not None:
        params += after
        where.append(f"(created_at, id) < (${len(params) - 1}, ${len(params)})")
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notifications WHERE {" AND ".join(where)}
            ORDER BY created_at DESC, id DESC LIMIT $2""",
        *params,
    )
    return [_notification(row) for row in rows]


async def mark_read(conn: Conn, notification_id: int, recipient_id: int) -> Notification | None:
    """Mark one of the recipient's notifications read (kept as first read); None if not theirs."""
    row = await conn.fetchrow(
        f"""UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE id = $1 AND recipient_id = $2 AND 'database' = ANY (channels)
            RETURNING {_COLUMNS}""",
        notification_id, recipient_id,
    )  # fmt: skip
    return _notification(row) if row else None


async def mark_all_read(conn: Conn, recipient_id: int) -> int:
    """Mark every unread notification of the recipient read; returns how many."""
    result: str = await conn.execute(
        """UPDATE notifications SET read_at = now()
           WHERE recipient_id = $1 AND read_at IS NULL AND 'database' = ANY (channels)""",
        recipient_id,
    )
    return int(result.split()[-1])


async def user_ids(conn: Conn, admins_only: bool) -> list[int]:
    """Every user's id, or every admin's."""
    sql = "SELECT id FROM users" + (" WHERE role = 'admin'" if admins_only else "") + " ORDER BY id"
    return [row["id"] for row in await conn.fetch(sql)]


async def user_exists(conn: Conn, user_id: int) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", user_id))
