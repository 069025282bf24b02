"""Every error becomes JSON with a message a person understands; HTTP statuses are assigned here only."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import redis.exceptions
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError

from voicepipe import errors
from voicepipe.engine.outage import redis_unavailable

log = logging.getLogger(__name__)

STATUS: dict[type[errors.VoicepipeError], int] = {
    errors.InvalidInput: 400,
    errors.Unprocessable: 422,
    errors.UnsupportedMedia: 415,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.DependencyUnavailable: 503,
}


def error_response(
    status: int,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message, **(details or {})}},
        status=status,
        headers=headers,
    )


# What a request sees when Redis or PostgreSQL is down or unreachable: a 503, not a 500.
DEPENDENCY_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    ConnectionError,
    asyncio.TimeoutError,
    OSError,
)


def status_for(exc: errors.VoicepipeError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.VoicepipeError as exc:
        status = status_for(exc)
        if status == 500:
            log.exception("unhandled voicepipe error on %s %s", request.method, request.path)
            return error_response(500, "internal error; the server log has the details")
        headers = (
            {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, errors.RateLimited) else None
        )
        details = exc.details if isinstance(exc, errors.Conflict) else None
        return error_response(status, str(exc), headers, details)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "input"
        return error_response(422, f"{field}: {first['msg']}")
    except DEPENDENCY_ERRORS as exc:
        log.warning("dependency unavailable on %s %s: %r", request.method, request.path, exc)
        return error_response(503, "a service voicepipe depends on is unavailable; try again soon")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return error_response(exc.status, exc.reason, {"Allow": allow} if allow else None)
    except Exception as exc:
        reason = redis_unavailable(exc)  # Redis is there but refuses: out of memory, read-only…
        if reason is not None:
            log.warning("Redis refused %s %s: %r", request.method, request.path, exc)
            return error_response(503, f"{reason}; try again soon")
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")
