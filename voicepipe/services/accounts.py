"""Accounts: creating users, passwords and signing in, API tokens, and the bootstrap admin."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import secrets
import time
from dataclasses import dataclass

import argon2
import asyncpg
from argon2 import PasswordHasher

from voicepipe import keys
from voicepipe.db import users as users_db
from voicepipe.errors import Conflict, InvalidInput, NotFound, RateLimited
from voicepipe.resources import Resources
from voicepipe.services import ratelimit
from voicepipe.settings import Settings

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


# argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: t=3, 64 MiB, p=4):
# about 0.2 s of one core per hash, run off the event loop. When the defaults move on, stored
# hashes are redone at the next sign-in (`password_needs_rehash`).
_HASHER = PasswordHasher()
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024  # a longer one is refused before it is hashed
LEGACY_SCRYPT = "scrypt$"  # scrypt$n$r$p$salt$digest, written before argon2 came in


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    """Does `password` match `stored` (argon2, or a legacy scrypt hash)? Never raises."""
    if stored.startswith(LEGACY_SCRYPT):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def password_needs_rehash(stored: str) -> bool:
    """Should this hash be redone now that its password is known (legacy scheme, old parameters)?"""
    if stored.startswith(LEGACY_SCRYPT):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except argon2.exceptions.InvalidHashError:
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return secrets.compare_digest(candidate.hex(), digest)


@functools.cache
def _dummy_hash() -> str:
    """What an unknown email's password is checked against, so it takes as long as a known one."""
    return hash_password(secrets.token_urlsafe(16))


def check_new_password(password: str) -> None:
    """InvalidInput unless `password` is long enough to be set (and short enough to hash)."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password may have at most {MAX_PASSWORD_CHARS} characters")


async def set_password(db: asyncpg.Pool, email: str, password: str) -> users_db.UserRow:
    """Give the user with `email` a new password; NotFound for an unknown email."""
    check_new_password(password)
    stored = await asyncio.to_thread(hash_password, password)
    user = await users_db.set_password_by_email(db, email.strip(), stored)
    if user is None:
        raise NotFound(f"no user with email {email.strip()}")
    return user


async def sign_in(db: asyncpg.Pool, email: str, password: str) -> users_db.UserRow | None:
    """The enabled user with this email and password, or None. An unknown email, a disabled
    user or one without a password costs one hash check too, so timing tells nothing; a match on
    a legacy or outdated hash is rehashed."""
    found = None
    if len(email) <= 254 and len(password) <= MAX_PASSWORD_CHARS:
        found = await users_db.credentials_by_email(db, email.strip())
    stored = found.password_hash if found is not None and found.password_hash else None
    dummy = await asyncio.to_thread(_dummy_hash)  # made on the first sign-in, whoever signs in
    candidate = password[:MAX_PASSWORD_CHARS]
    matches = await asyncio.to_thread(verify_password, candidate, stored or dummy)
    if found is None or stored is None or not matches:
        return None
    if password_needs_rehash(stored):
        fresh = await asyncio.to_thread(hash_password, password)
        await users_db.replace_password_hash(db, found.user.id, stored, fresh)
    return found.user


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


# Failed sign-ins are counted per account and per client address in fixed windows (the API's
# rate-limit counters); a successful one is not counted, so only guessing is slowed down.
LOGIN_ACCOUNT_GROUP = "login-account"
LOGIN_IP_GROUP = "login-ip"


def _login_counters(settings: Settings, email: str, ip: str) -> list[tuple[str, str, int]]:
    account = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]  # no email in keys
    return [
        (LOGIN_ACCOUNT_GROUP, "a:" + account, settings.login_failures_per_account),
        (LOGIN_IP_GROUP, "ip:" + ip, settings.login_failures_per_ip),
    ]


async def login_wait_s(resources: Resources, email: str, ip: str) -> int:
    """Seconds until this email, or anyone from this address, may try to sign in again; 0: now."""
    window_s = resources.settings.login_window_s
    now = time.time()
    window = int(now // window_s)  # the window ratelimit.hit counts in: its key names it
    for group, identity, limit in _login_counters(resources.settings, email, ip):
        count = await resources.redis.get(keys.rate_limit(group, identity, window))
        if limit > 0 and count is not None and int(count) >= limit:
            return max(1, math.ceil((window + 1) * window_s - now))
    return 0


async def count_login_failure(resources: Resources, email: str, ip: str) -> None:
    """Count one failed sign-in against the account and the address; the next attempt past a
    limit is refused by `login_wait_s`."""
    window_s = resources.settings.login_window_s
    for group, identity, limit in _login_counters(resources.settings, email, ip):
        with contextlib.suppress(RateLimited):  # over already: counted, and refused next time
            await ratelimit.hit(resources.redis, group, identity, limit, window_s)
