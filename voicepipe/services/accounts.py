"""Accounts: creating users, issuing API tokens, and the bootstrap admin."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from voicepipe.db import users as users_db
from voicepipe.errors import Conflict, InvalidInput, NotFound

TOKEN_PREFIX = "vp_"
PREFIX_LENGTH = 10  # how much of a token is stored in clear, to tell tokens apart


@dataclass(frozen=True)
class NewUser:
    """A created user with the secrets shown exactly once."""

    id: int
    email: str
    role: str
    token: str
    password: str | None


def hash_token(token: str) -> bytes:
    """Tokens are 32 random bytes, so one SHA-256 is enough (no salt or stretching needed)."""
    return hashlib.sha256(token.encode()).digest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
    )
    return secrets.compare_digest(candidate.hex(), digest)


async def create_user(
    db: asyncpg.Pool, email: str, admin: bool = False, with_password: bool = False
) -> NewUser:
    email = email.strip()
    if "@" not in email or len(email) > 254:
        raise InvalidInput(f"not an email address: {email!r}")
    password = secrets.token_urlsafe(12) if with_password else None
    role = "admin" if admin else "user"
    async with db.acquire() as conn, conn.transaction():
        user = await users_db.insert_user(
            conn, email, role, hash_password(password) if password else None
        )
        if user is None:
            raise Conflict(f"a user with email {email} already exists")
        token = await issue_token(conn, user.id)
    return NewUser(id=user.id, email=user.email, role=user.role, token=token, password=password)


async def issue_token(
    conn: asyncpg.Connection | asyncpg.Pool, user_id: int, name: str = "default"
) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await users_db.insert_token(conn, user_id, name, hash_token(token), token[:PREFIX_LENGTH])
    return token


async def authenticate(db: asyncpg.Pool, token: str) -> users_db.UserRow | None:
    """The user a bearer token belongs to; the lookup is by digest, so no timing leak on the token."""
    return await users_db.user_by_token_hash(db, hash_token(token))


async def find_user(db: asyncpg.Pool, email: str) -> users_db.UserRow:
    """The enabled user with `email`, or NotFound."""
    user = await users_db.user_by_email(db, email.strip())
    if user is None:
        raise NotFound(f"no user with email {email}")
    return user


async def bootstrap_admin(db: asyncpg.Pool, email: str) -> NewUser | None:
    """Create the first admin if there is none; None when one exists already."""
    if await users_db.count_admins(db) > 0:
        return None
    return await create_user(db, email, admin=True, with_password=True)


async def authenticate_token(db: asyncpg.Pool, token: str) -> users_db.UserRow | None:
    """Like `authenticate`, comparing the stored digest in constant time once it is found."""
    digest = hash_token(token)
    owner = await users_db.token_owner(db, digest)
    if owner is None or not secrets.compare_digest(owner.token_hash, digest):
        return None
    return owner.user


async def list_users(db: asyncpg.Pool) -> list[users_db.UserListing]:
    return await users_db.list_users(db)


async def revoke_token(db: asyncpg.Pool, token_or_prefix: str) -> int:
    """Revoke one token given as its id, its shown prefix (`vp_…`, 10 characters) or in full."""
    value = token_or_prefix.strip()
    async with db.acquire() as conn, conn.transaction():
        if value.isdigit():
            revoked = await users_db.revoke_token(conn, token_id=int(value))
        elif value.startswith(TOKEN_PREFIX) and len(value) > PREFIX_LENGTH:
            revoked = await users_db.revoke_token(conn, token_hash=hash_token(value))
        elif value.startswith(TOKEN_PREFIX) and len(value) == PREFIX_LENGTH:
            revoked = await users_db.revoke_token(conn, prefix=value)
        else:
            raise InvalidInput(
                f"give a token id, its {PREFIX_LENGTH}-character prefix or the token"
            )
        if len(revoked) > 1:
            raise Conflict(f"prefix {value} matches {len(revoked)} tokens; give the token id")
    if not revoked:
        raise NotFound(f"no live token {value}")
    return revoked[0]
