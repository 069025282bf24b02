"""The email channel: notifications mailed in digests, at most one per recipient per window.

A notification on the email channel is stored with `emailed_at` NULL; the planner (in the
sending transaction) queues a `send_email_digest` job for its recipient, due when their window
allows: VOICEPIPE_EMAIL_DIGEST_S after their last digest. The job id names the recipient and
that last digest, so every notification of one window plans the same job and it runs once.

The job holds the recipient's `email_digests` row lock from reading what is pending until the
commit that marks it mailed, which comes only after the SMTP server accepted the mail. A worker
that dies mid-send leaves everything pending and the job runs again (at least once: the mail's
Message-ID is derived from what it lists, so a receiver can drop the copy). A sweeper queues
the digest of anyone whose mail waits too long (a crash between commit and enqueue).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import asyncpg

from voicepipe.db import email_digests as digests_db
from voicepipe.db.email_digests import DigestWindow, Locked, PendingMail
from voicepipe.domain.notifications import Notification
from voicepipe.engine.broker import JobSpec
from voicepipe.engine.registry import broker_for, get_task
from voicepipe.errors import Retry
from voicepipe.mail import MailError, MailItem, SmtpConfig, parse_smtp_url, render_digest, send_mail
from voicepipe.mail.smtp import mail_domain
from voicepipe.resources import Resources
from voicepipe.settings import Settings

log = logging.getLogger(__name__)

DIGEST_TASK = "send_email_digest"
MAX_ITEMS = 100  # listed in one mail; the rest go in the next one
SWEEP_MARGIN_S = 60  # past its window, pending mail is the sweeper's
# What a digest job retries (with the task's backoff): send_digest lets only transient
# MailErrors out; a permanent refusal is recorded and the job succeeds.
RETRY_ON: tuple[type[BaseException], ...] = (MailError,)


async def plan(
    conn: asyncpg.Connection, resources: Resources, sent: list[Notification]
) -> list[JobSpec]:
    """The digest jobs that will mail `sent`: one per recipient and window."""
    recipients = sorted({n.recipient_id for n in sent})
    await digests_db.ensure(conn, recipients)
    windows = await digests_db.windows(conn, recipients, resources.settings.email_digest_s)
    return [digest_spec(resources, window) for window in windows]


def digest_job_id(window: DigestWindow) -> str:
    """`email-digest:<recipient>:<last digest, epoch ms>`. While a digest of theirs is being
    sent, its job may no longer see what this transaction stores: the `:after` job runs once it
    committed and plans the next window."""
    last_ms = int(window.last_sent_at.timestamp() * 1000) if window.last_sent_at else 0
    return f"email-digest:{window.recipient_id}:{last_ms}" + (":after" if window.sending else "")


def digest_spec(resources: Resources, window: DigestWindow) -> JobSpec:
    return get_task(DIGEST_TASK).spec(
        resources, {"recipient_id": window.recipient_id}, job_id=digest_job_id(window),
        countdown_s=window.due_in_s,
    )  # fmt: skip


async def send_digest(resources: Resources, recipient_id: int, job_id: str) -> dict[str, Any]:
    """Mail the recipient everything pending in one digest, if their window has passed (else
    queue the job for when it has). Raises MailError when the server may accept it later."""
    settings = resources.settings
    if settings.smtp_url is None:  # turned off since these were planned: they stay pending
        return {"sent": 0, "skipped": "VOICEPIPE_SMTP_URL is not set"}
    config = parse_smtp_url(settings.smtp_url)
    await digests_db.ensure(resources.db, [recipient_id])  # the planner made it, unless bypassed
    async with resources.db.acquire() as conn, conn.transaction():
        locked = await digests_db.lock(conn, recipient_id, settings.email_digest_s)
        items = await digests_db.pending(conn, recipient_id, MAX_ITEMS) if locked else []
        if locked is None or not items:
            return {"sent": 0}
        if locked.due_in_s == 0:
            outcome = await _mail(conn, settings, config, locked, items)
    if locked.due_in_s > 0:
        # planned for an earlier window, or sent to while being sent: queue the window's own job
        later = digest_spec(resources, _window(locked))
        if later.job_id == job_id:  # only if clocks disagree; it cannot be queued under its own id
            raise Retry(locked.due_in_s, "the digest window has not passed yet")
        await broker_for(resources).enqueue([later])
        return {"sent": 0, "deferred_s": round(locked.due_in_s, 3), "next_job": later.job_id}
    # more than MAX_ITEMS were pending, or more came while it was sent
    following = await digests_db.window(resources.db, recipient_id, settings.email_digest_s)
    if following is not None and await digests_db.has_pending(resources.db, recipient_id):
        await broker_for(resources).enqueue([digest_spec(resources, following)])
    return outcome


async def _mail(
    conn: asyncpg.Connection, settings: Settings, config: SmtpConfig, locked: Locked,
    items: list[PendingMail],
) -> dict[str, Any]:  # fmt: skip
    ids = [item.id for item in items]
    subject, text, html = render_digest(
        [MailItem(i.title, i.message, i.level, i.created_at, i.job_id) for i in items],
        locked.email,
        link=settings.site_url,
    )
    try:
        await send_mail(
            config, settings.mail_from, locked.email, subject, text, html,
            message_id=digest_message_id(locked.recipient_id, ids, settings.mail_from),
        )  # fmt: skip
    except MailError as exc:
        if exc.transient:
            raise
        # retrying cannot help (no such mailbox, rejected): marked, so they are not tried forever
        log.warning(
            "email digest of %d notifications to user %d refused for good: %s",
            len(ids), locked.recipient_id, exc,
        )  # fmt: skip
        await digests_db.mark_done(conn, locked.recipient_id, ids, str(exc))
        return {"sent": 0, "refused": len(ids), "error": str(exc)}
    await digests_db.mark_done(conn, locked.recipient_id, ids, None)
    return {"sent": len(ids), "notification_ids": ids}


async def sweep(resources: Resources) -> int:
    """Queue the digest of every recipient whose mail has waited past its window and a margin;
    returns how many were queued (a digest already queued or running is not queued again)."""
    if resources.settings.smtp_url is None:  # email is off: what is pending waits for it
        return 0
    window_s = resources.settings.email_digest_s
    stale = await digests_db.stale_windows(resources.db, window_s + SWEEP_MARGIN_S, window_s)
    if not stale:
        return 0
    accepted = await broker_for(resources).enqueue([digest_spec(resources, w) for w in stale])
    for window, queued in zip(stale, accepted, strict=True):
        if queued:
            log.info("queued the lost email digest of user %d", window.recipient_id)
    return sum(accepted)


def digest_message_id(recipient_id: int, notification_ids: list[int], mail_from: str) -> str:
    """The same digest (recipient and notifications) always has the same Message-ID."""
    digest = hashlib.sha256(",".join(map(str, notification_ids)).encode()).hexdigest()[:16]
    return f"<digest.{recipient_id}.{notification_ids[0]}.{digest}@{mail_domain(mail_from) or 'voicepipe'}>"


def _window(locked: Locked) -> DigestWindow:
    return DigestWindow(locked.recipient_id, locked.last_sent_at, locked.due_in_s)
