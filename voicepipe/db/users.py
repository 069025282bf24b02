"""SQL for users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    role: str
    created_at: datetime


async def insert_user(
    conn: asyncpg.Connection | asyncpg.Pool, email: str, role: str, password_hash: str | None
) -> UserRow | None:
    """The new user, or None if the email is taken."""
    row = await conn.fetchrow(
        """INSERT INTO users (email, role, password_hash) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING
           RETURNING id, email, role, created_at""",
        email,
        role,
        password_hash,
    )
    return UserRow(**dict(row)) if row else None


async def insert_token(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: int, name: str, token_hash: bytes, prefix: str
) -> int:
    token_id: int = await conn.fetchval(
        """INSERT INTO api_tokens (user_id, name, token_hash, prefix) VALUES ($1, $2, $3, $4)
           RETURNING id""",
        user_id,
        name,
        token_hash,
        prefix,
    )
    return token_id


async def user_by_token_hash(
    conn: asyncpg.Connection | asyncpg.Pool, token_hash: bytes
) -> UserRow | None:
    row = await conn.fetchrow(
        """UPDATE api_tokens SET last_used_at = now()
           FROM users
           WHERE api_tokens.token_hash = $1 AND api_tokens.revoked_at IS NULL
             AND users.id = api_tokens.user_id AND users.disabled_at IS NULL
           RETURNING users.id, users.email, users.role, users.created_at""",
        token_hash,
    )
    return UserRow(**dict(row)) if row else None


async def count_admins(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL"
    )
    return count
