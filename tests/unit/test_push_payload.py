"""What a push carries: the payload under the size limit as valid JSON, urgency per level, topics,
the VAPID header, and which subscriptions are refused."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]

from tests.support.push_service import Browser
from voicepipe.domain.notifications import LEVELS
from voicepipe.push import (
    MAX_PAYLOAD_BYTES,
    PushSubscriptionInvalid,
    authorization,
    build_payload,
    check_subscription,
    new_keys,
    topic_for,
    urgency_for,
)
from voicepipe.push.vapid import TOKEN_LIFETIME_S, b64url_decode


def _payload(title: str = "t", message: str = "m") -> bytes:
    return build_payload(title, message, "info", "https://vp.example.org/", 12)


def test_a_short_payload_is_kept_whole() -> None:
    assert json.loads(_payload("Done", "all 3 chunks")) == {
        "title": "Done", "message": "all 3 chunks", "level": "info",
        "url": "https://vp.example.org/", "notification_id": 12,
    }  # fmt: skip


@pytest.mark.parametrize("unit", ["x", "é", "語", "🎙️", '"', "\\", "\n"])
def test_a_long_message_is_cut_to_the_limit_and_stays_json(unit: str) -> None:
    message = unit * 5000
    encoded = _payload(message=message)
    document = json.loads(encoded)  # never broken JSON
    assert len(encoded) <= MAX_PAYLOAD_BYTES
    assert len(encoded) > MAX_PAYLOAD_BYTES - 16  # cut at the limit, not far below it
    assert document["message"].endswith("…") and message.startswith(document["message"][:-1])


def test_a_message_exactly_at_the_limit_is_not_cut() -> None:
    empty = len(_payload(message=""))
    message = "x" * (MAX_PAYLOAD_BYTES - empty)
    assert json.loads(_payload(message=message))["message"] == message
    assert json.loads(_payload(message=message + "y"))["message"].endswith("…")


def test_a_huge_title_is_cut_too() -> None:
    document = json.loads(encoded := _payload(title="T" * 9000, message="m" * 9000))
    assert len(encoded) <= MAX_PAYLOAD_BYTES
    assert document["message"] == "…" and document["title"].endswith("…")


def test_urgency_follows_the_level() -> None:
    assert {level: urgency_for(level) for level in LEVELS} == {
        "info": "low", "success": "low", "warning": "normal", "error": "high", "critical": "high",
    }  # fmt: skip


def test_a_topic_is_32_url_safe_characters_and_names_its_key() -> None:
    topic = topic_for("job:" + "j" * 500)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", topic)
    assert topic_for("job:a") == topic_for("job:a") != topic_for("job:b")


def test_the_vapid_public_key_is_an_uncompressed_p256_point() -> None:
    keys = new_keys()
    point = b64url_decode(keys.public_key)
    assert len(point) == 65 and point[0] == 4 and "=" not in keys.public_key
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def test_the_authorization_header_carries_a_valid_token_for_the_push_origin() -> None:
    keys = new_keys()
    now_s = time.time()
    header = authorization(keys, "https://push.example.org:8443/w/abc", "mailto:ops@example.org")
    scheme, _, rest = header.partition(" ")
    params = dict(part.strip().split("=", 1) for part in rest.split(","))
    assert scheme == "vapid" and params["k"] == keys.public_key
    assert Vapid02.verify(header)  # signature valid for k
    claims_part = params["t"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    assert claims["aud"] == "https://push.example.org:8443"
    assert claims["sub"] == "mailto:ops@example.org"
    assert now_s < claims["exp"] <= now_s + TOKEN_LIFETIME_S + 1 <= now_s + 86_400


def _browser(endpoint: str = "https://push.example.org/w/abc") -> dict[str, str]:
    subscription = Browser(endpoint, "unused").to_json()
    return {"endpoint": subscription["endpoint"], **subscription["keys"]}


def test_a_browser_subscription_is_accepted() -> None:
    given = _browser()
    kept = check_subscription(**given, allow_private=False)
    assert (kept.endpoint, kept.p256dh, kept.auth) == tuple(given.values())


@pytest.mark.parametrize(
    "endpoint",
    ["http://push.example.org/w", "https://127.0.0.1/w", "https://[::1]/w", "https://10.1.2.3/w",
     "https://user:pw@push.example.org/w", "https:///w", "push.example.org/w",
     "https://push.example.org:99999/w", "https://push.example.org/" + "w" * 2100],
)  # fmt: skip
def test_unsafe_or_malformed_endpoints_are_refused(endpoint: str) -> None:
    with pytest.raises(PushSubscriptionInvalid, match="endpoint"):
        check_subscription(**_browser(endpoint), allow_private=False)


def test_a_loopback_http_push_service_is_allowed_only_with_private_targets_on() -> None:
    given = _browser("http://127.0.0.1:8123/push/abc")
    with pytest.raises(PushSubscriptionInvalid):
        check_subscription(**given, allow_private=False)
    assert check_subscription(**given, allow_private=True).endpoint == given["endpoint"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [("p256dh", "AAAA", "p256dh"), ("p256dh", "B" + "A" * 86, "p256dh"),
     ("p256dh", "not base64 at all", "p256dh"), ("auth", "AAAA", "auth"),
     ("auth", "?" * 22, "auth")],
)  # fmt: skip
def test_keys_of_the_wrong_length_or_form_are_refused(field: str, value: str, named: str) -> None:
    with pytest.raises(PushSubscriptionInvalid, match=named):
        check_subscription(**{**_browser(), field: value}, allow_private=False)
