"""Real SMTP servers for tests (aiosmtpd): an inbox that keeps or refuses what arrives.

Import the fixture into a test module: `from tests.support.smtp import serve_fixture  # noqa: F401`
gives it `serve`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# the one login the inbox accepts
USER, PASSWORD = "alerts@example.com", "p@ss:word"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what arrives, or refuses at RCPT or DATA with `reply`;
    `refused` addresses get `550 5.1.1` at RCPT (and are counted in `refusals`)."""

    refuse_at: str | None = None
    reply: str = ""
    # the first DATA never answers (a server that hangs mid-send); its Message-ID is kept
    stall_first: bool = False
    stalled: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    refusals: list[str] = field(default_factory=list)
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    tls_versions: list[str | None] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_at == "RCPT":
            return self.reply
        if address in self.refused:
            self.refusals.append(address)
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_at == "DATA":
            return self.reply
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        if self.stall_first and not self.stalled:
            self.stalled.append(str(parsed["Message-ID"]))
            await asyncio.Event().wait()  # until the client goes away and the server stops
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.tls_versions.append(ssl_object.version() if ssl_object else None)
        self.messages.append(parsed)
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = data.login.decode() == USER and data.password.decode() == PASSWORD
        if ok:
            self.logins.append(f"{mechanism} {data.login.decode()}")
        return AuthResult(success=ok, handled=False)

    def to(self, address: str) -> list[EmailMessage]:
        """The messages that arrived for `address`."""
        return [
            m for m, e in zip(self.messages, self.envelopes, strict=True) if address in e.rcpt_tos
        ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class SmtpServer:
    """An aiosmtpd server on 127.0.0.1:`port` that can be stopped and started again there."""

    inbox: Inbox = field(default_factory=Inbox)
    port: int = field(default_factory=free_port)
    options: dict[str, Any] = field(default_factory=dict)
    _controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp+insecure://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(
            self.inbox, hostname="127.0.0.1", port=self.port,
            authenticator=self.inbox.authenticate, **self.options,
        )  # fmt: skip
        self._controller.start()  # returns once the server answers

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


Serve = Callable[..., tuple[Inbox, int]]


@pytest.fixture(name="smtp")
def smtp_fixture() -> Iterator[SmtpServer]:
    """A plain SMTP server for the test (`smtp.url` for VOICEPIPE_SMTP_URL, `smtp.inbox`);
    import `smtp_fixture` into a test module to get the `smtp` fixture."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(name="serve")
def serve_fixture() -> Iterator[Serve]:
    """`serve(inbox, **controller_options)` starts an aiosmtpd server on 127.0.0.1; returns its port."""
    servers: list[SmtpServer] = []

    def start(inbox: Inbox | None = None, **options: Any) -> tuple[Inbox, int]:
        server = SmtpServer(inbox or Inbox(), options=options)
        server.start()
        servers.append(server)
        return server.inbox, server.port

    yield start
    for server in servers:
        server.stop()


def text_of(message: EmailMessage) -> str:
    """The plain text part, with the CRLF line ends of the wire undone."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")
