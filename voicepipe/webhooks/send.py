"""One webhook delivery attempt, pinned to the vetted address, and the retry schedule around it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

import aiohttp

from voicepipe.webhooks import signing
from voicepipe.webhooks.target import WebhookHostUnresolved, resolve_target

Outcome = Literal["delivered", "gone", "retry"]

# Seconds to wait after the 1st, 2nd, ... failed attempt (the Standard Webhooks recommendation).
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000)
JITTER = 0.2
MAX_RETRY_AFTER_S = 36000  # a receiver asking for longer than our longest step gets that step
ANSWER_BYTES = 200


@dataclass(frozen=True)
class Attempt:
    """What one POST to an endpoint came to."""

    outcome: Outcome
    status: int | None
    latency_ms: float
    answer: str  # the first 200 bytes of the response body, decoded with replacement
    error: str | None = None
    retry_after_s: float | None = None


def outcome_of(status: int) -> Outcome:
    """2xx is delivered; 410 Gone means disable the endpoint; anything else (3xx too) retries."""
    if 200 <= status < 300:
        return "delivered"
    return "gone" if status == 410 else "retry"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delay-seconds or an HTTP date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def next_delay_s(
    attempt_number: int,
    retry_after_s: float | None,
    rng: random.Random,
    schedule_s: Sequence[float] = RETRY_SCHEDULE_S,
) -> float | None:
    """Seconds before the next try after failed attempt `attempt_number` (1-based); None: give up.

    The scheduled step gets ±20 % jitter so endpoints that failed together do not get retried
    together; a larger Retry-After is honoured, up to MAX_RETRY_AFTER_S. `schedule_s` is
    RETRY_SCHEDULE_S but for tests, which cannot wait hours.
    """
    if attempt_number < 1:
        raise ValueError(f"attempt numbers start at 1, not {attempt_number}")
    if attempt_number > len(schedule_s):
        return None
    delay_s = schedule_s[attempt_number - 1] * rng.uniform(1 - JITTER, 1 + JITTER)
    if retry_after_s is not None and retry_after_s > delay_s:
        return min(retry_after_s, MAX_RETRY_AFTER_S)
    return delay_s


def _error_for(status: int, location: str | None) -> str | None:
    if 200 <= status < 300:
        return None
    if location is not None and 300 <= status < 400:
        return f"HTTP {status}, a redirect to {location} (not followed)"
    return f"HTTP {status}"


async def _read_start(response: aiohttp.ClientResponse) -> str:
    start = b""
    while len(start) < ANSWER_BYTES:
        chunk = await response.content.read(ANSWER_BYTES - len(start))
        if not chunk:
            break
        start += chunk
    return start.decode(errors="replace")


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    secret: str,
    msg_id: str,
    body: bytes,
    allow_private: bool,
    timeout_s: float = 15,
) -> Attempt:
    """POST `body`, signed now, to `url`; raise WebhookTargetRefused before sending if it is unsafe.

    The host is resolved once by the guard and the connection goes to that vetted address, with
    the original name kept in Host and for TLS (SNI, certificate), so a DNS answer that changes
    between check and connect cannot redirect the request. Redirects are not followed.
    """
    started = time.monotonic()

    def failed(error: str) -> Attempt:
        return Attempt("retry", None, (time.monotonic() - started) * 1000, "", error)

    try:
        async with asyncio.timeout(timeout_s):
            target = await resolve_target(url, allow_private)
    except WebhookHostUnresolved as exc:
        return failed(str(exc))
    except TimeoutError:
        return failed(f"timed out after {timeout_s:g} s resolving the host")
    timestamp_s = int(time.time())
    request_headers = signing.headers(secret, msg_id, timestamp_s, body)
    remaining_s = max(0.001, timeout_s - (time.monotonic() - started))
    try:
        async with target.post(session, body, request_headers, remaining_s) as response:
            answer = await _read_start(response)
            status = response.status
            retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
            location = response.headers.get("Location")
    except TimeoutError:
        return failed(f"timed out after {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return failed(f"{type(exc).__name__}: {exc}")
    latency_ms = (time.monotonic() - started) * 1000
    error = _error_for(status, location)
    return Attempt(outcome_of(status), status, latency_ms, answer, error, retry_after_s)
