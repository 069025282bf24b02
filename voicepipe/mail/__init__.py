"""The email channel: SMTP settings from a URL, digests rendered from templates, sending."""

from voicepipe.mail.render import MailItem, render_digest
from voicepipe.mail.smtp import MailError, send_mail
from voicepipe.mail.url import SmtpConfig, TlsMode, parse_smtp_url

__all__ = [
    "MailError",
    "MailItem",
    "SmtpConfig",
    "TlsMode",
    "parse_smtp_url",
    "render_digest",
    "send_mail",
]
