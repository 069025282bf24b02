"""One delivery attempt against a real receiver that verifies every request like a customer would."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import socket
import ssl
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from voicepipe.webhooks.send import (
    MAX_RETRY_AFTER_S,
    RETRY_SCHEDULE_S,
    deliver,
    next_delay_s,
    parse_retry_after,
)
from voicepipe.webhooks.signing import new_secret, payload
from voicepipe.webhooks.target import WebhookTargetRefused, resolve_target

BODY = payload("job.finished", {"job_id": "j1"}, datetime(2026, 12, 1, tzinfo=UTC))


class Receiver:
    """A customer's endpoint: verifies the signature, dedupes on webhook-id, answers per path."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []
        self.bad_signatures = 0
        self.received: dict[str, Any] = {}
        self.duplicates = 0
        self.release_slow = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        self.hosts.append(request.host)
        body = await request.read()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.Response(status=401)
        if request.path == "/ok":
            msg_id = request.headers["webhook-id"]
            if msg_id in self.received:
                self.duplicates += 1
            self.received.setdefault(msg_id, event)
            return web.Response(text="thanks " + "x" * 300)
        if request.path == "/gone":
            return web.Response(status=410, text="endpoint deleted")
        if request.path == "/busy":
            return web.Response(status=503, headers={"Retry-After": "120"})
        if request.path == "/redirect":
            raise web.HTTPFound("/elsewhere")
        if request.path == "/slow":
            await self.release_slow.wait()
        return web.Response(text="elsewhere")

    @property
    def total_hits(self) -> int:
        return sum(self.hits.values())


class NoDNS(AbstractResolver):
    """A resolver that records and fails every lookup: a delivery must connect without one."""

    def __init__(self) -> None:
        self.lookups: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.lookups.append(host)
        raise OSError(f"no DNS lookups at connect time, asked for {host}")

    async def close(self) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver(new_secret())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield receiver, f"http://127.0.0.1:{server.port}"
    receiver.release_slow.set()
    await server.close()


@pytest.fixture
async def no_dns() -> NoDNS:
    return NoDNS()


@pytest.fixture
async def session(no_dns: NoDNS) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=no_dns)) as opened:
        yield opened


async def test_2xx_is_delivered_verified_and_deduped_on_the_id(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    for _ in range(2):  # a retry of a delivered message reuses its id
        attempt = await deliver(session, f"{base}/ok", endpoint.secret, "msg_1", BODY, True)
        assert (attempt.outcome, attempt.status, attempt.error) == ("delivered", 200, None)
    assert attempt.answer == ("thanks " + "x" * 300)[:200] and attempt.latency_ms > 0
    assert endpoint.hits["/ok"] == 2 and endpoint.bad_signatures == 0
    assert endpoint.received == {"msg_1": json.loads(BODY)} and endpoint.duplicates == 1


async def test_a_wrong_secret_is_caught_by_the_receiver(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    attempt = await deliver(session, f"{base}/ok", new_secret(), "msg_1", BODY, True)
    assert (attempt.outcome, attempt.status, attempt.error) == ("retry", 401, "HTTP 401")
    assert endpoint.bad_signatures == 1 and endpoint.received == {}


async def test_410_is_gone(receiver: tuple[Receiver, str], session: aiohttp.ClientSession) -> None:
    endpoint, base = receiver
    attempt = await deliver(session, f"{base}/gone", endpoint.secret, "msg_1", BODY, True)
    assert (attempt.outcome, attempt.status, attempt.answer) == ("gone", 410, "endpoint deleted")


async def test_503_with_retry_after_is_a_retry_carrying_the_delay(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    attempt = await deliver(session, f"{base}/busy", endpoint.secret, "msg_1", BODY, True)
    assert (attempt.outcome, attempt.status, attempt.retry_after_s) == ("retry", 503, 120)


async def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    attempt = await deliver(session, f"{base}/redirect", endpoint.secret, "msg_1", BODY, True)
    assert (attempt.outcome, attempt.status) == ("retry", 302)
    assert attempt.error == "HTTP 302, a redirect to /elsewhere (not followed)"
    assert endpoint.hits == Counter({"/redirect": 1})  # and nothing asked for /elsewhere


async def test_a_slow_receiver_past_the_timeout_is_a_retry(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    url = f"{base}/slow"
    attempt = await deliver(session, url, endpoint.secret, "msg_1", BODY, True, timeout_s=0.3)
    assert endpoint.hits["/slow"] == 1  # the request arrived; the answer did not
    assert (attempt.outcome, attempt.status) == ("retry", None)
    assert attempt.error == "timed out after 0.3 s"
    assert 300 <= attempt.latency_ms < 5000


async def test_loopback_is_refused_before_any_request_unless_allowed(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession
) -> None:
    endpoint, base = receiver
    with pytest.raises(WebhookTargetRefused, match=r"127\.0\.0\.1 is a loopback address"):
        await deliver(session, f"{base}/ok", endpoint.secret, "msg_1", BODY, allow_private=False)
    assert endpoint.total_hits == 0
    attempt = await deliver(session, f"{base}/ok", endpoint.secret, "msg_1", BODY, True)
    assert attempt.outcome == "delivered" and endpoint.total_hits == 1  # the counter counts


async def test_a_hostname_is_resolved_once_and_kept_in_the_host_header(
    receiver: tuple[Receiver, str], session: aiohttp.ClientSession, no_dns: NoDNS
) -> None:
    endpoint, base = receiver
    url = base.replace("127.0.0.1", "localhost") + "/ok"
    if (await resolve_target(url, allow_private=True)).address != "127.0.0.1":
        pytest.skip("localhost does not resolve to 127.0.0.1 first here")
    attempt = await deliver(session, url, endpoint.secret, "msg_1", BODY, True)
    assert attempt.outcome == "delivered"
    assert endpoint.hosts == [url.removeprefix("http://").removesuffix("/ok")]
    assert no_dns.lookups == []  # the connection went to the vetted address, not a new lookup


def _localhost_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate naming only DNS:localhost, so it cannot match 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_https_to_the_pinned_address_verifies_the_certificate_for_the_name(
    tmp_path: Path, no_dns: NoDNS
) -> None:
    cert, key = _localhost_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))
    endpoint = Receiver(new_secret())
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=server_tls)
    port = server.port
    connector = aiohttp.TCPConnector(resolver=no_dns, ssl=client_tls)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            by_address = f"https://127.0.0.1:{port}/ok"
            refused = await deliver(session, by_address, endpoint.secret, "msg_1", BODY, True)
            assert refused.outcome == "retry" and "certificate" in (refused.error or "")
            by_name = f"https://localhost:{port}/ok"
            if (await resolve_target(by_name, allow_private=True)).address != "127.0.0.1":
                pytest.skip("localhost does not resolve to 127.0.0.1 first here")
            attempt = await deliver(session, by_name, endpoint.secret, "msg_1", BODY, True)
    finally:
        await server.close()
    assert (attempt.outcome, attempt.error) == ("delivered", None)  # SNI and check used the name
    assert endpoint.hosts == [f"localhost:{port}"] and no_dns.lookups == []


async def test_a_closed_port_is_a_retry(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends, and nothing listens
    url = f"http://127.0.0.1:{port}/ok"
    attempt = await deliver(session, url, new_secret(), "msg_1", BODY, True, timeout_s=5)
    assert (attempt.outcome, attempt.status) == ("retry", None)
    assert attempt.error is not None and attempt.error.startswith("ClientConnectorError")


async def test_an_unresolvable_host_is_a_retry(session: aiohttp.ClientSession) -> None:
    url = "http://voicepipe-test.invalid/ok"  # .invalid never resolves (RFC 6761)
    attempt = await deliver(session, url, new_secret(), "msg_1", BODY, False, timeout_s=2)
    assert (attempt.outcome, attempt.status) == ("retry", None)
    assert attempt.error is not None and "resolv" in attempt.error


# The retry arithmetic (pure; it sits here because it lives in send.py beside deliver).


class FixedRandom(random.Random):
    """random() always returns `value`, so uniform(a, b) is a + (b - a) * value."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_the_schedule_is_followed_with_twenty_percent_jitter_then_exhausted() -> None:
    for number, step_s in enumerate(RETRY_SCHEDULE_S, start=1):
        assert next_delay_s(number, None, FixedRandom(0.0)) == pytest.approx(step_s * 0.8)
        assert next_delay_s(number, None, FixedRandom(0.5)) == pytest.approx(step_s)
        assert next_delay_s(number, None, FixedRandom(1.0)) == pytest.approx(step_s * 1.2)
    assert next_delay_s(len(RETRY_SCHEDULE_S) + 1, None, random.Random(1)) is None
    with pytest.raises(ValueError):
        next_delay_s(0, None, random.Random(1))


def test_jitter_spreads_retries() -> None:
    rng = random.Random(7)
    delays = {next_delay_s(1, None, rng) for _ in range(20)}
    assert len(delays) == 20 and all(4 <= d <= 6 for d in delays if d is not None)


def test_retry_after_is_honoured_when_larger_and_capped() -> None:
    rng = FixedRandom(0.5)
    assert next_delay_s(1, 120, rng) == 120  # larger than the 5 s step
    assert next_delay_s(2, 10, rng) == pytest.approx(300)  # smaller: the schedule wins
    assert next_delay_s(1, 10**9, rng) == MAX_RETRY_AFTER_S
    assert next_delay_s(len(RETRY_SCHEDULE_S) + 1, 60, rng) is None  # it cannot extend the tries


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 7 ") == 7
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    for unusable in (None, "soon", "-5", "1.5", ""):
        assert parse_retry_after(unusable, now=now) is None
