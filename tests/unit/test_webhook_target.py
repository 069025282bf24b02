"""The SSRF guard: only http(s), and no address that is not public unless private ones are allowed."""

from __future__ import annotations

import pytest

from voicepipe.errors import InvalidInput
from voicepipe.webhooks.target import (
    Target,
    WebhookTargetRefused,
    resolve_target,
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost:8080/hook", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/", "resolves to 127.0.0.1, a loopback address"),  # 127.0.0.1 as an int
        ("http://127.1/", "resolves to 127.0.0.1, a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://0.0.0.0/", "the unspecified address"),
        ("http://[::]/", "the unspecified address"),
        ("http://10.1.2.3/", "a private address"),
        ("http://172.16.0.1/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://[fc00::1]/", "a private address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),  # cloud metadata
        ("http://[fe80::1]/", "a link-local address"),
        ("http://100.64.0.1/", "the shared address space 100.64.0.0/10"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://[ff02::1]/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://192.0.2.1/", "a private address"),  # documentation range
        ("http://[::ffff:127.0.0.1]/", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:10.0.0.1]/", "an IPv6 form of 10.0.0.1, a private address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "an IPv6 form of 169.254.169.254, a link-local"),
        ("http://[2002:7f00:1::]/", "an IPv6 form of 127.0.0.1, a loopback address"),  # 6to4
    ],
)
async def test_non_public_addresses_are_refused_naming_address_and_reason(
    url: str, reason: str
) -> None:
    with pytest.raises(WebhookTargetRefused, match=reason.replace(".", r"\.")):
        await resolve_target(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8/", "https://[2606:4700:4700::1111]/", "http://[::ffff:8.8.8.8]/"]
)
async def test_public_addresses_are_accepted(url: str) -> None:
    target = await resolve_target(url, allow_private=False)
    assert target.address in url


async def test_allow_private_accepts_loopback_and_keeps_every_part() -> None:
    with pytest.raises(WebhookTargetRefused):  # the same URL without the allowance
        await resolve_target("http://LOCALHOST.:8080/a/b?c=1&d=2#frag", allow_private=False)
    target = await resolve_target("http://LOCALHOST.:8080/a/b?c=1&d=2#frag", allow_private=True)
    assert target == Target("http", "localhost", 8080, "/a/b?c=1&d=2", "127.0.0.1")
    assert target.host_header == "localhost:8080"
    assert target.pinned_url == "http://127.0.0.1:8080/a/b?c=1&d=2"


async def test_default_ports_and_an_empty_path() -> None:
    https = await resolve_target("https://8.8.8.8", allow_private=False)
    assert (https.port, https.path, https.host_header) == (443, "/", "8.8.8.8")
    v6 = await resolve_target("http://[::1]:81/x", allow_private=True)
    assert (v6.host_header, v6.pinned_url) == ("[::1]:81", "http://[::1]:81/x")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://8.8.8.8/", "http or https, not 'ftp'"),
        ("file:///etc/passwd", "http or https, not 'file'"),
        ("8.8.8.8/hook", "http or https"),
        ("http:///hook", "has no host"),
        ("http://user:pw@8.8.8.8/", "may not carry credentials"),
        ("http://8.8.8.8:99999/", "malformed"),
    ],
)
async def test_unusable_urls_are_refused_even_with_private_allowed(url: str, reason: str) -> None:
    with pytest.raises(WebhookTargetRefused, match=reason):
        await resolve_target(url, allow_private=True)


def test_a_refusal_is_invalid_input() -> None:
    assert issubclass(WebhookTargetRefused, InvalidInput)  # so the API answers 400
