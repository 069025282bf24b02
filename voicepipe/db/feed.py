"""SQL the live feed needs: who owns a job, and the enabled user behind a session."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

from voicepipe.db.users import UserRow

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def job_owners(conn: Conn, job_ids: list[str]) -> dict[str, int | None]:
    """The owner of each recorded job among `job_ids` (None: a system job); a job not recorded
    yet is left out."""
    rows = await conn.fetch(
        "SELECT task_id, owner_id FROM jobs WHERE task_id = ANY($1::text[])", job_ids
    )
    return {row["task_id"]: row["owner_id"] for row in rows}


async def enabled_user(conn: Conn, user_id: int) -> UserRow | None:
    row = await conn.fetchrow(
        """SELECT id, email, role, created_at FROM users
           WHERE id = $1 AND disabled_at IS NULL""",
        user_id,
    )
    return UserRow(**dict(row)) if row else None
