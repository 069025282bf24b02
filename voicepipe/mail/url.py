"""VOICEPIPE_SMTP_URL parsed into an SmtpConfig: where to connect, how to log in, which TLS."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from voicepipe.errors import ConfigError

SETTING = "VOICEPIPE_SMTP_URL"


class TlsMode(enum.Enum):
    STARTTLS = "starttls"  # plain connect, then STARTTLS is required before anything else
    IMPLICIT = "implicit"  # TLS from the first byte (SMTPS)
    NONE = "none"  # no TLS at all: local relays and tests only


SCHEMES: dict[str, tuple[TlsMode, int]] = {
    "smtp": (TlsMode.STARTTLS, 587),
    "smtps": (TlsMode.IMPLICIT, 465),
    "smtp+insecure": (TlsMode.NONE, 25),
}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    # Off only in tests, against a server with a self-signed certificate.
    verify_tls: bool = True


def parse_smtp_url(url: str) -> SmtpConfig:
    """`smtp://user:pass@host:587` (STARTTLS), `smtps://` (implicit TLS), `smtp+insecure://`."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigError(
            f"{SETTING}: unknown scheme {scheme + '://' if scheme else '(none)'}; use {known}"
        )
    tls, default_port = SCHEMES[scheme]
    if not parts.hostname:
        raise ConfigError(f"{SETTING}: no host (expected {scheme}://[user:password@]host[:port])")
    try:
        port = parts.port
    except ValueError:  # urllib's message quotes the netloc, password and all: not passed on
        port = 0
    if port == 0:
        raise ConfigError(f"{SETTING}: the port must be a number from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{SETTING}: a path, query or fragment has no meaning here")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not username:
        raise ConfigError(f"{SETTING}: a password without a user name")
    return SmtpConfig(
        host=parts.hostname,
        port=port or default_port,
        tls=tls,
        username=username,
        password=password,
    )
