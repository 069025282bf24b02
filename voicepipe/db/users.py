"""SQL for users, their passwords and API tokens."""

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


async def user_by_email(conn: asyncpg.Connection | asyncpg.Pool, email: str) -> UserRow | None:
    """The enabled user with this email (any case)."""
    row = await conn.fetchrow(
        """SELECT id, email, role, created_at FROM users
           WHERE lower(email) = lower($1) AND disabled_at IS NULL""",
        email,
    )
    return UserRow(**dict(row)) if row else None


@dataclass(frozen=True)
class Credentials:
    """An enabled user and their password hash (None: the user has no password)."""

    user: UserRow
    password_hash: str | None


async def credentials_by_email(
    conn: asyncpg.Connection | asyncpg.Pool, email: str
) -> Credentials | None:
    """The enabled user with this email (any case) and their password hash."""
    row = await conn.fetchrow(
        """SELECT id, email, role, created_at, password_hash FROM users
           WHERE lower(email) = lower($1) AND disabled_at IS NULL""",
        email,
    )
    if row is None:
        return None
    found = dict(row)
    password_hash = found.pop("password_hash")
    return Credentials(user=UserRow(**found), password_hash=password_hash)


async def set_password_by_email(
    conn: asyncpg.Connection | asyncpg.Pool, email: str, password_hash: str
) -> UserRow | None:
    """Set the password hash of the user with this email (any case); None if there is none."""
    row = await conn.fetchrow(
        """UPDATE users SET password_hash = $2 WHERE lower(email) = lower($1)
           RETURNING id, email, role, created_at""",
        email,
        password_hash,
    )
    return UserRow(**dict(row)) if row else None


async def replace_password_hash(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: int, old_hash: str, new_hash: str
) -> bool:
    """Swap a user's hash for a rehash of the same password, unless it was changed meanwhile."""
    result: str = await conn.execute(
        "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
        user_id,
        old_hash,
        new_hash,
    )
    return result == "UPDATE 1"


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


@dataclass(frozen=True)
class TokenOwner:
    """A live token's digest and id, and the user it belongs to."""

    token_id: int
    token_hash: bytes
    user: UserRow


async def token_owner(
    conn: asyncpg.Connection | asyncpg.Pool, token_hash: bytes
) -> TokenOwner | None:
    """The live token with this digest and its enabled user; marks it used at most once a minute
    (a write on every request would serialize a busy client's requests on the token row)."""
    row = await conn.fetchrow(
        """WITH found AS (
               SELECT t.id, t.token_hash, t.last_used_at, u.id AS user_id, u.email, u.role,
                      u.created_at
               FROM api_tokens t JOIN users u ON u.id = t.user_id
               WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled_at IS NULL),
           touched AS (
               UPDATE api_tokens SET last_used_at = now() FROM found
               WHERE api_tokens.id = found.id
                 AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute'))
           SELECT * FROM found""",
        token_hash,
    )
    if row is None:
        return None
    user = UserRow(
        id=row["user_id"], email=row["email"], role=row["role"], created_at=row["created_at"]
    )
    return TokenOwner(token_id=row["id"], token_hash=bytes(row["token_hash"]), user=user)


@dataclass(frozen=True)
class UserListing:
    id: int
    email: str
    role: str
    created_at: datetime
    disabled: bool
    tokens: list[str]  # "id:prefix…" of each live token


async def list_users(conn: asyncpg.Connection | asyncpg.Pool) -> list[UserListing]:
    rows = await conn.fetch(
        """SELECT u.id, u.email, u.role, u.created_at, u.disabled_at IS NOT NULL AS disabled,
                  coalesce(array_agg(t.id::text || ':' || t.prefix ORDER BY t.id)
                           FILTER (WHERE t.id IS NOT NULL), '{}') AS tokens
           FROM users u LEFT JOIN api_tokens t ON t.user_id = u.id AND t.revoked_at IS NULL
           GROUP BY u.id ORDER BY u.id"""
    )
    return [UserListing(**dict(row)) for row in rows]


async def revoke_token(
    conn: asyncpg.Connection | asyncpg.Pool,
    *,
    token_id: int | None = None,
    prefix: str | None = None,
    token_hash: bytes | None = None,
) -> list[int]:
    """Revoke live tokens by id, by shown prefix, or by digest; the ids revoked (none, one, or
    several if a prefix was ambiguous: the caller checks before committing)."""
    rows = await conn.fetch(
        """UPDATE api_tokens SET revoked_at = now()
           WHERE revoked_at IS NULL AND (id = $1 OR prefix = $2 OR token_hash = $3)
           RETURNING id""",
        token_id,
        prefix,
        token_hash,
    )
    return [row["id"] for row in rows]
