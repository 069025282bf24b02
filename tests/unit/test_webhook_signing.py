"""Standard Webhooks signing: what we sign, the reference verifier accepts, and nothing else."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from voicepipe.webhooks.signing import (
    WebhookSecretInvalid,
    headers,
    new_secret,
    payload,
    sign,
)

BODY = b'{"type":"job.finished","timestamp":"2026-12-01T14:00:00Z","data":{"job_id":"j1"}}'


def test_the_reference_verifier_accepts_our_headers() -> None:
    secret = new_secret()
    signed = headers(secret, "msg_1", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, signed) == json.loads(BODY)
    assert signed["content-type"] == "application/json"
    assert set(signed) == {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}


def test_a_changed_body_fails_verification() -> None:
    secret = new_secret()
    signed = headers(secret, "msg_1", int(time.time()), BODY)
    Webhook(secret).verify(BODY, signed)  # the untouched request verifies
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"j1", b"j2"), signed)


def test_a_changed_timestamp_or_id_fails_verification() -> None:
    secret = new_secret()
    now_s = int(time.time())
    signed = headers(secret, "msg_1", now_s, BODY)
    Webhook(secret).verify(BODY, signed)
    for header, value in (("webhook-timestamp", str(now_s + 1)), ("webhook-id", "msg_2")):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(BODY, {**signed, header: value})


def test_another_secret_fails_verification() -> None:
    signed = headers(new_secret(), "msg_1", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, signed)


def test_sign_matches_the_reference_signer_on_a_fixed_vector() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    when = datetime.fromtimestamp(1614265330, UTC)
    expected = Webhook(secret).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", when, body)
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body.encode()) == expected
    assert expected == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_prefixed_base64_of_enough_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert 24 <= len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) <= 32


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"x" * 8).decode(),
    ],
)
def test_malformed_secrets_are_refused(secret: str) -> None:
    with pytest.raises(WebhookSecretInvalid):
        sign(secret, "msg_1", 0, BODY)


def test_payload_is_compact_json_with_a_utc_iso_timestamp() -> None:
    when = datetime(2026, 12, 1, 15, 30, 5, tzinfo=timezone(timedelta(hours=1)))
    body = payload("job.finished", {"job_id": "j1", "note": "größe"}, when)
    assert (
        body
        == (
            '{"type":"job.finished","timestamp":"2026-12-01T14:30:05Z",'
            '"data":{"job_id":"j1","note":"größe"}}'
        ).encode()
    )
    assert datetime.fromisoformat(json.loads(body)["timestamp"]) == when


def test_payload_refuses_a_naive_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        payload("job.finished", {}, datetime(2026, 12, 1))
