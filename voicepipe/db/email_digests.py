"""SQL for email digests: each recipient's last digest, its lock, and the notifications to mail.

Times come from PostgreSQL's clock (clock_timestamp(), not the transaction's start), so every
process compares windows on one clock whatever its own says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from voicepipe.db.notifications import Conn
from voicepipe.domain.notifications import Level


@dataclass(frozen=True)
class DigestWindow:
    """When a recipient's next digest may go: `due_in_s` from now (0: at once). `sending`: a
    digest of theirs is being sent right now (its transaction holds the row lock)."""

    recipient_id: int
    last_sent_at: datetime | None
    due_in_s: float
    sending: bool = False


@dataclass(frozen=True)
class Locked:
    """A recipient's digest row, locked until the transaction ends."""

    recipient_id: int
    email: str
    last_sent_at: datetime | None
    due_in_s: float


@dataclass(frozen=True)
class PendingMail:
    id: int
    title: str
    message: str
    level: Level
    job_id: str | None
    created_at: datetime


_DUE_IN_S = """greatest(0, extract(epoch FROM last_sent_at + make_interval(secs => $2)
                                    - clock_timestamp()))::float8"""


async def ensure(conn: Conn, recipient_ids: list[int]) -> None:
    """A row for each recipient who still exists (made in the transaction that stores their
    notifications, so a pending notification always has one to lock)."""
    await conn.execute(
        """INSERT INTO email_digests (recipient_id) SELECT id FROM users WHERE id = ANY($1::bigint[])
           ON CONFLICT (recipient_id) DO NOTHING""",
        recipient_ids,
    )


async def windows(
    conn: asyncpg.Connection, recipient_ids: list[int], window_s: float
) -> list[DigestWindow]:
    """Each recipient's next window, share-locking the rows of those not being sent right now:
    a digest that starts later waits for this transaction and sees what it stores."""
    free = await conn.fetch(
        f"""SELECT recipient_id, last_sent_at, {_DUE_IN_S} AS due_in_s FROM email_digests
            WHERE recipient_id = ANY($1::bigint[]) ORDER BY recipient_id
            FOR SHARE SKIP LOCKED""",
        recipient_ids, window_s,
    )  # fmt: skip
    found = [DigestWindow(**dict(row)) for row in free]
    busy = sorted(set(recipient_ids) - {w.recipient_id for w in found})
    if busy:
        rows = await conn.fetch(
            f"""SELECT recipient_id, last_sent_at, {_DUE_IN_S} AS due_in_s FROM email_digests
                WHERE recipient_id = ANY($1::bigint[])""",
            busy, window_s,
        )  # fmt: skip
        found += [DigestWindow(**dict(row), sending=True) for row in rows]
    return found


async def window(conn: Conn, recipient_id: int, window_s: float) -> DigestWindow | None:
    row = await conn.fetchrow(
        f"""SELECT recipient_id, last_sent_at, {_DUE_IN_S} AS due_in_s FROM email_digests
            WHERE recipient_id = $1""",
        recipient_id, window_s,
    )  # fmt: skip
    return DigestWindow(**dict(row)) if row else None


async def stale_windows(conn: Conn, older_than_s: float, window_s: float) -> list[DigestWindow]:
    """The windows of recipients with a notification waiting to be mailed for longer than
    `older_than_s` (its digest job was lost, or keeps failing)."""
    rows = await conn.fetch(
        f"""SELECT r.recipient_id, last_sent_at, {_DUE_IN_S} AS due_in_s
            FROM (SELECT DISTINCT recipient_id FROM notifications
                  WHERE emailed_at IS NULL AND 'email' = ANY (channels)
                    AND created_at < clock_timestamp() - make_interval(secs => $1)) r
            LEFT JOIN email_digests d USING (recipient_id)
            ORDER BY r.recipient_id""",
        older_than_s, window_s,
    )  # fmt: skip
    return [DigestWindow(**dict(row)) for row in rows]


async def lock(conn: asyncpg.Connection, recipient_id: int, window_s: float) -> Locked | None:
    """Lock the recipient's row until the transaction ends; None if they have none (or are gone)."""
    row = await conn.fetchrow(
        f"""SELECT d.recipient_id, u.email, d.last_sent_at, {_DUE_IN_S} AS due_in_s
            FROM email_digests d JOIN users u ON u.id = d.recipient_id
            WHERE d.recipient_id = $1 FOR UPDATE OF d""",
        recipient_id, window_s,
    )  # fmt: skip
    return Locked(**dict(row)) if row else None


async def pending(conn: asyncpg.Connection, recipient_id: int, limit: int) -> list[PendingMail]:
    """The recipient's notifications not mailed yet, oldest first."""
    rows = await conn.fetch(
        """SELECT id, title, message, level, job_id, created_at FROM notifications
           WHERE recipient_id = $1 AND emailed_at IS NULL AND 'email' = ANY (channels)
           ORDER BY id LIMIT $2""",
        recipient_id, limit,
    )  # fmt: skip
    return [PendingMail(**dict(row)) for row in rows]


async def has_pending(conn: Conn, recipient_id: int) -> bool:
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM notifications WHERE recipient_id = $1
                   AND emailed_at IS NULL AND 'email' = ANY (channels))""",
            recipient_id,
        )
    )


async def mark_done(
    conn: asyncpg.Connection, recipient_id: int, notification_ids: list[int], error: str | None
) -> datetime:
    """The notifications are mailed (or refused for good, with `error`), and this is the
    recipient's last digest; returns its time."""
    sent_at: datetime = await conn.fetchval(
        """UPDATE email_digests SET last_sent_at = clock_timestamp(),
               last_error = coalesce($2, last_error)
           WHERE recipient_id = $1 RETURNING last_sent_at""",
        recipient_id, error,
    )  # fmt: skip
    await conn.execute(
        "UPDATE notifications SET emailed_at = $2, email_error = $3 WHERE id = ANY($1::bigint[])",
        notification_ids, sent_at, error,
    )  # fmt: skip
    return sent_at
