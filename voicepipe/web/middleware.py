"""Every error becomes JSON with a message a person understands; HTTP statuses are assigned here only."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from voicepipe import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.VoicepipeError], int] = {
    errors.InvalidInput: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.DependencyUnavailable: 503,
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"error": {"status": status, "message": message}}, status=status, headers=headers
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
        return error_response(status, str(exc), headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return error_response(exc.status, exc.reason, {"Allow": allow} if allow else None)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")
