"""Sending one email with aiosmtplib; failures become MailError, transient or permanent."""

from __future__ import annotations

import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from voicepipe.errors import VoicepipeError
from voicepipe.mail.url import SmtpConfig, TlsMode


class MailError(VoicepipeError):
    """The mail was not sent. `transient`: the same mail may go through later (connection
    refused, a timeout, a 4xx reply); otherwise (a 5xx reply, a refused login, an untrusted
    certificate, a server without the STARTTLS or AUTH the URL asks for) retrying cannot help."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


def mail_domain(mail_from: str) -> str | None:
    """The domain of a From address (`voicepipe <a@example.com>` gives example.com)."""
    return mail_from.rpartition("@")[2].strip(">") or None


def build_message(
    mail_from: str, to: str, subject: str, text: str, html: str, message_id: str | None = None
) -> EmailMessage:
    """multipart/alternative: the text part first, the HTML part last (clients prefer the last).
    `message_id` (`<id@domain>`): the same mail sent again carries the same one, so receivers can
    drop the copy; by default a new one."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = message_id or make_msgid(domain=mail_domain(mail_from))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


async def send_mail(
    config: SmtpConfig,
    mail_from: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    timeout_s: float = 15,
    message_id: str | None = None,
) -> None:
    """Send one mail to one recipient; raises MailError."""
    message = build_message(mail_from, to, subject, text, html, message_id)
    try:
        await aiosmtplib.send(
            message,
            hostname=config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            use_tls=config.tls is TlsMode.IMPLICIT,
            # True makes STARTTLS required (aiosmtplib fails if the server does not offer it);
            # False never tries it, even if offered.
            start_tls=config.tls is TlsMode.STARTTLS,
            validate_certs=config.verify_tls,
            timeout=timeout_s,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:  # OSError: a socket error left unwrapped
        raise _mail_error(config, exc) from exc


def _mail_error(config: SmtpConfig, exc: Exception) -> MailError:
    server = _server(config)
    if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
        # an untrusted certificate or no common protocol: fixed by configuration, not by waiting
        return MailError(f"TLS with {server} failed: {exc}", transient=False)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        code = max((refused.code for refused in exc.recipients), default=None)
        return MailError(
            f"{server} refused the recipient: {exc}",
            transient=code is not None and code < 500,
            code=code,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return MailError(
            f"{server} answered {exc.code} {exc.message}",
            transient=400 <= exc.code < 500,
            code=exc.code,
        )
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        # refused, dropped, timed out, DNS not answering (aiosmtplib's own errors subclass these)
        return MailError(f"cannot reach {server}: {exc}", transient=True)
    # the server lacks what the URL asks for (STARTTLS, AUTH): a configuration problem
    return MailError(f"cannot send through {server}: {exc}", transient=False)


def _server(config: SmtpConfig) -> str:
    """Never the password: messages end up in logs and job records."""
    return f"SMTP server {config.host}:{config.port}"
