"""A digest of notifications rendered to a subject, a plain text body and an HTML body."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2

from voicepipe.domain.notifications import LEVELS  # lowest to highest
from voicepipe.errors import ConfigError
from voicepipe.paths import templates_dir

TEMPLATES = templates_dir()
SUBJECT_PREFIX = "[voicepipe]"


@dataclass(frozen=True)
class MailItem:
    """One notification as the mail shows it."""

    title: str
    message: str
    level: str
    created_at: datetime
    job_id: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(
                f"unknown notification level {self.level!r}; one of {', '.join(LEVELS)}"
            )


def mail_environment(templates: Path = TEMPLATES) -> jinja2.Environment:
    """Autoescaping for .html only: the text body must show `<` as `<`, not `&lt;`."""
    if not (templates / "mail").is_dir():
        raise ConfigError(f"the mail templates are missing: no folder {templates / 'mail'}")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def highest_level(items: list[MailItem]) -> str:
    return max((item.level for item in items), key=LEVELS.index)


def digest_subject(items: list[MailItem]) -> str:
    if len(items) == 1:
        return f"{SUBJECT_PREFIX} {_one_line(items[0].title)}"
    return f"{SUBJECT_PREFIX} {len(items)} notifications ({highest_level(items)})"


def render_digest(
    notifications: list[MailItem],
    recipient_email: str,
    *,
    link: str | None = None,
    environment: jinja2.Environment | None = None,
) -> tuple[str, str, str]:
    """Subject, text body and HTML body of one email listing `notifications` in the given order;
    `link`: where the reader finds them online (the web server's public address)."""
    if not notifications:
        raise ValueError("a digest needs at least one notification")
    env = environment or _default_environment()
    context = {
        "notifications": notifications,
        "recipient_email": recipient_email,
        "highest_level": highest_level(notifications),
        "link": link,
    }
    text = env.get_template("mail/notification.txt").render(context)
    html = env.get_template("mail/notification.html").render(context)
    return digest_subject(notifications), text, html


def _one_line(title: str) -> str:
    """A header cannot hold a newline; EmailMessage would refuse it."""
    return " ".join(title.split())


@functools.cache
def _default_environment() -> jinja2.Environment:
    """Built once and kept: an Environment caches its compiled templates."""
    return mail_environment()
