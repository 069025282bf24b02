"""The push channel: planned deliveries of notifications, and the job that delivers them."""

from __future__ import annotations

import asyncpg

from voicepipe.domain.notifications import Notification
from voicepipe.engine.broker import JobSpec
from voicepipe.resources import Resources


async def plan(
    conn: asyncpg.Connection, resources: Resources, sent: list[Notification]
) -> list[JobSpec]:
    """Store the push deliveries of `sent` and return the jobs that deliver them."""
    return []  # SKELETON: replaced by the push channel's implementation
