"""The email adapter against a real SMTP server (aiosmtpd): delivery, login, TLS, refusals."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.smtp import PASSWORD, USER, Inbox, Serve, free_port, serve_fixture  # noqa: F401
from voicepipe.mail import MailError, SmtpConfig, parse_smtp_url, send_mail

FROM, TO = "voicepipe <alerts@example.com>", "ada@example.com"
# aiosmtpd warns whenever AUTH is allowed without STARTTLS, which these tests do on purpose
auth_without_starttls = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def send(config: SmtpConfig, timeout_s: float = 5) -> None:
    await send_mail(
        config,
        FROM,
        TO,
        "[voicepipe] Transcription done",
        "Plain body: <b>not bold</b>\n",
        "<p>HTML body</p>\n",
        timeout_s=timeout_s,
    )


async def test_a_plain_send_arrives_once_with_both_parts(serve: Serve) -> None:
    inbox, port = serve()
    await send(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    assert len(inbox.messages) == 1
    message, envelope = inbox.messages[0], inbox.envelopes[0]
    assert envelope.mail_from == "alerts@example.com" and envelope.rcpt_tos == [TO]
    assert message["From"] == FROM and message["To"] == TO
    assert message["Subject"] == "[voicepipe] Transcription done"
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    # lines travel as CRLF
    assert text.get_content().replace("\r\n", "\n") == "Plain body: <b>not bold</b>\n"
    assert html.get_content().replace("\r\n", "\n") == "<p>HTML body</p>\n"
    assert inbox.tls_versions == [None] and inbox.logins == []


@auth_without_starttls
async def test_login_over_plain_smtp(serve: Serve) -> None:
    inbox, port = serve(auth_require_tls=False, auth_required=True)
    await send(
        parse_smtp_url(f"smtp+insecure://alerts%40example.com:p%40ss%3Aword@127.0.0.1:{port}")
    )
    assert len(inbox.logins) == 1 and inbox.logins[0].endswith(f" {USER}")
    assert len(inbox.messages) == 1


@auth_without_starttls
async def test_a_wrong_password_is_permanent_and_not_in_the_error(serve: Serve) -> None:
    inbox, port = serve(auth_require_tls=False, auth_required=True)
    with pytest.raises(MailError) as caught:
        await send(parse_smtp_url(f"smtp+insecure://{USER}:wrong-{PASSWORD}@127.0.0.1:{port}"))
    assert caught.value.transient is False and caught.value.code == 535
    assert "wrong-" not in str(caught.value)
    assert inbox.messages == [] and inbox.logins == []


@pytest.mark.parametrize(
    ("refuse_at", "reply", "transient"),
    [
        ("RCPT", "451 4.3.0 Mailbox busy, try later", True),
        ("RCPT", "550 5.1.1 No such user", False),
        ("DATA", "451 4.3.0 Queue full, try later", True),
        ("DATA", "554 5.7.1 Rejected as spam", False),
    ],
)
async def test_4xx_replies_are_transient_and_5xx_permanent(
    serve: Serve, refuse_at: str, reply: str, transient: bool
) -> None:
    inbox, port = serve(Inbox(refuse_at=refuse_at, reply=reply))
    with pytest.raises(MailError) as caught:
        await send(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    assert caught.value.transient is transient
    assert caught.value.code == int(reply[:3])
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert inbox.messages == []


async def test_a_closed_port_is_transient() -> None:
    port = free_port()  # bound and released: nothing listens there now
    with pytest.raises(MailError) as caught:
        await send(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    assert caught.value.transient is True and caught.value.code is None


async def test_a_server_that_never_greets_times_out_as_transient() -> None:
    connected = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # until the client gives up and closes

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(MailError) as caught:
            await send(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"), timeout_s=0.3)
    assert connected.is_set()
    assert caught.value.transient is True


# -- TLS, with a self-signed certificate made for this run -----------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def unverified(config: SmtpConfig) -> SmtpConfig:
    return replace(config, verify_tls=False)


async def test_starttls_then_login(serve: Serve, server_tls: ssl.SSLContext) -> None:
    # aiosmtpd refuses AUTH before STARTTLS here (auth_require_tls defaults to True)
    inbox, port = serve(tls_context=server_tls, require_starttls=True, auth_required=True)
    await send(unverified(parse_smtp_url(f"smtp://{USER}:p%40ss%3Aword@127.0.0.1:{port}")))
    assert len(inbox.messages) == 1 and len(inbox.logins) == 1
    assert inbox.tls_versions[0] is not None and inbox.tls_versions[0].startswith("TLS")


async def test_starttls_is_required_not_attempted(serve: Serve) -> None:
    inbox, port = serve()  # offers no STARTTLS
    await send(parse_smtp_url(f"smtp+insecure://127.0.0.1:{port}"))
    assert len(inbox.messages) == 1  # the server works; only TLS is missing
    with pytest.raises(MailError) as caught:
        await send(unverified(parse_smtp_url(f"smtp://127.0.0.1:{port}")))
    assert caught.value.transient is False
    assert "STARTTLS" in str(caught.value)
    assert len(inbox.messages) == 1  # nothing went out in the clear


@auth_without_starttls
async def test_implicit_tls(serve: Serve, server_tls: ssl.SSLContext) -> None:
    # aiosmtpd counts only STARTTLS as TLS for auth_require_tls, not a TLS listener
    inbox, port = serve(ssl_context=server_tls, auth_required=True, auth_require_tls=False)
    await send(unverified(parse_smtp_url(f"smtps://{USER}:p%40ss%3Aword@127.0.0.1:{port}")))
    assert len(inbox.messages) == 1 and len(inbox.logins) == 1
    assert inbox.tls_versions[0] is not None and inbox.tls_versions[0].startswith("TLS")


@pytest.mark.parametrize(
    ("scheme", "server_option"), [("smtps", "ssl_context"), ("smtp", "tls_context")]
)
async def test_a_self_signed_certificate_is_refused_by_default(
    serve: Serve, server_tls: ssl.SSLContext, scheme: str, server_option: str
) -> None:
    inbox, port = serve(**{server_option: server_tls})
    config = parse_smtp_url(f"{scheme}://127.0.0.1:{port}")
    await send(unverified(config))
    assert len(inbox.messages) == 1  # the server accepts mail once the certificate is not checked
    with pytest.raises(MailError) as caught:
        await send(config)
    assert "certificate verify failed" in str(caught.value)
    assert caught.value.transient is False
    assert len(inbox.messages) == 1
