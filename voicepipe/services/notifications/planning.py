"""What a delivered channel (email, webhook, push) contributes to sending a notification.

Each channel has a planner: called inside the transaction that stores the notifications, it
stores what its deliveries need (rows in its own tables) and returns the jobs that will deliver
them. The jobs are enqueued after the commit, with ids derived from what they deliver, so
enqueueing one twice (the sweeper after a crash between commit and enqueue) runs it once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg

from voicepipe.domain.notifications import Notification
from voicepipe.engine.broker import JobSpec
from voicepipe.resources import Resources

# (connection in the sending transaction, resources, the notifications this channel carries)
Planner: TypeAlias = Callable[
    [asyncpg.Connection, Resources, list[Notification]], Awaitable[list[JobSpec]]
]
