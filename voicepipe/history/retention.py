"""Retention: job history older than VOICEPIPE_JOB_HISTORY_DAYS goes, a batch at a time."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from voicepipe.db import retention as retention_db
from voicepipe.resources import Resources

log = logging.getLogger(__name__)

PRUNE_BATCH = 5000


async def prune_job_history(resources: Resources, now: datetime | None = None) -> int:
    """Delete finished jobs (and their timelines) older than the retention period; returns how many."""
    days = resources.settings.job_history_days
    before = (now or datetime.now(UTC)) - timedelta(days=days)
    total = 0
    while True:
        # one short transaction per batch: recording and queries are never blocked for long
        deleted = await retention_db.prune_finished(resources.db, before, PRUNE_BATCH)
        total += deleted
        if deleted < PRUNE_BATCH:
            break
    log.info("pruned %d job(s) finished before %s (%d days of history kept)",
             total, before.isoformat(timespec="seconds"), days)  # fmt: skip
    return total
