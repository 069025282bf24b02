"""The SSRF guard: a webhook URL is resolved once, and refused if any address it names is not public."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from voicepipe.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a NAT64 gateway forwards to the embedded IPv4


class WebhookTargetRefused(InvalidInput):
    """A webhook URL is not one voicepipe will call: bad scheme, or a non-public address."""


class WebhookHostUnresolved(InvalidInput):
    """The webhook URL's host does not resolve (perhaps only for now)."""


@dataclass(frozen=True)
class Target:
    """A vetted webhook URL: where to connect (`address`) and what to name in Host and SNI."""

    scheme: str
    host: str  # IDNA (ASCII) form, no brackets
    port: int
    path: str  # path and query, at least "/"
    address: str  # the resolved IP to connect to

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with the host replaced by the vetted address, so nothing resolves it again."""
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{address}:{self.port}{self.path}"

    def post(
        self, session: aiohttp.ClientSession, body: bytes, headers: dict[str, str],
        timeout_s: float,
    ) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:  # fmt: skip
        """POST `body` to the vetted address, naming the host in Host and TLS SNI, following no
        redirect (each hop would need vetting too)."""
        return session.post(
            self.pinned_url,
            data=body,
            headers={**headers, "Host": self.host_header},
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            server_hostname=self.host if self.scheme == "https" else None,
        )


def why_not_public(address: IPAddress) -> str | None:
    """What `address` is if connecting to it could reach something internal; None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = why_not_public(embedded)
            return None if reason is None else f"an IPv6 form of {embedded}, {reason}"
    checks = (
        (address.is_unspecified, "the unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address in SHARED_ADDRESS_SPACE, "in the shared address space 100.64.0.0/10"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a globally routable address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _parse(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise WebhookTargetRefused(f"a webhook URL is http or https, not {scheme or 'nothing'!r}")
    if parts.username is not None or parts.password is not None:
        raise WebhookTargetRefused("a webhook URL may not carry credentials")
    if not parts.hostname:
        raise WebhookTargetRefused(f"the webhook URL {url!r} has no host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
        host = parts.hostname.rstrip(".").encode("idna").decode("ascii")
    except (ValueError, UnicodeError) as exc:
        raise WebhookTargetRefused(f"the webhook URL {url!r} is malformed: {exc}") from exc
    path = parts.path or "/"
    return scheme, host, port, f"{path}?{parts.query}" if parts.query else path


async def resolve_target(url: str, allow_private: bool) -> Target:
    """Parse and resolve `url`; refuse it if any address is not public, unless `allow_private`."""
    scheme, host, port, path = _parse(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise WebhookHostUnresolved(f"cannot resolve the webhook host {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise WebhookHostUnresolved(f"the webhook host {host!r} resolves to no address")
    if not allow_private:
        for address in addresses:
            reason = why_not_public(ipaddress.ip_address(address.partition("%")[0]))
            if reason is not None:
                named = f"{address} is" if address == host else f"{host} resolves to {address},"
                raise WebhookTargetRefused(f"refusing the webhook URL {url!r}: {named} {reason}")
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
