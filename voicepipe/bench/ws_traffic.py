"""The ws bench's accounts and traffic: who holds the sockets, what is published, what is owed.

Mostly users, about 5 % admins, two sockets per account (a user with two tabs open). Traffic
alternates a job event (a job's queued, started, progress and success, published on the live
channel as the engine does, owned by a random user) and a notification (kept and published by
services.notifications.live, to a random account). Each carries its publish time and the bench
phase; a job event also its owner, so the receiving side can tell a message that reached the
wrong socket. What is owed: every job event to every admin socket and its owner's sockets, every
notification to its recipient's sockets.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicepipe import keys
from voicepipe.domain.notifications import Notification
from voicepipe.engine import events
from voicepipe.resources import Resources
from voicepipe.services.accounts import create_user
from voicepipe.services.notifications import live

SOCKETS_PER_ACCOUNT = 2
ADMIN_SHARE = 0.05
LIFECYCLE: tuple[events.EventType, ...] = ("queued", "started", "progress", "success")


@dataclass(frozen=True)
class Socket:
    index: int
    token: str
    user_id: int
    role: str


@dataclass
class Population:
    sockets: list[Socket]
    users: list[int]
    admins: list[int]
    slow_user_id: int  # a user of its own, for the slow consumer
    slow_token: str


async def make_population(resources: Resources, clients: int) -> Population:
    admin_sockets = max(1, round(clients * ADMIN_SHARE))
    roles = ["admin"] * admin_sockets + ["user"] * (clients - admin_sockets)
    run = time.time_ns()
    accounts: list[tuple[int, str, str]] = []

    async def account(n: int, role: str) -> tuple[int, str, str]:
        made = await create_user(resources.db, f"ws-{run}-{n}@bench.localhost", role == "admin")
        return made.id, made.token, role

    wanted = [roles[i] for i in range(0, clients, SOCKETS_PER_ACCOUNT)]
    for start in range(0, len(wanted), 50):
        accounts += await asyncio.gather(
            *(account(start + k, role) for k, role in enumerate(wanted[start : start + 50]))
        )
    sockets = [
        Socket(i, accounts[i // SOCKETS_PER_ACCOUNT][1], accounts[i // SOCKETS_PER_ACCOUNT][0],
               roles[i])
        for i in range(clients)
    ]  # fmt: skip
    slow = await create_user(resources.db, f"ws-{run}-slow@bench.localhost")
    return Population(
        sockets=sockets,
        users=sorted({s.user_id for s in sockets if s.role == "user"}),
        admins=sorted({s.user_id for s in sockets if s.role == "admin"}),
        slow_user_id=slow.id,
        slow_token=slow.token,
    )


@dataclass
class Owed:
    """Messages published and deliveries owed to the connected sockets, by phase."""

    published: Counter[str] = field(default_factory=Counter)
    expected: Counter[str] = field(default_factory=Counter)


class Traffic:
    def __init__(self, resources: Resources, population: Population, connected: list[Socket],
                 seed: int = 1) -> None:  # fmt: skip
        self.resources = resources
        self.population = population
        self.rng = random.Random(seed)
        self.sockets_of = Counter(s.user_id for s in connected)
        self.admin_sockets = sum(1 for s in connected if s.role == "admin")
        self.owed = Owed()
        self._jobs = 0
        self._job: tuple[str, int] = ("", 0)

    async def steady(self, phase: str, rate_per_s: float, seconds: float) -> None:
        """Publish at `rate_per_s` for `seconds`, on a fixed schedule (no catching up in bursts
        is hidden: a late publish is late in the latency too)."""
        async for n in _paced(rate_per_s, seconds):
            if n % 2 == 0:
                await self._job_event(phase, n // 2)
            else:
                await self._notification(phase)

    async def flood(self, user_id: int, rate_per_s: float, seconds: float, pad_bytes: int) -> int:
        """Big notifications to one user (the slow consumer); returns how many were sent."""
        sent = 0
        async for _ in _paced(rate_per_s, seconds):
            await live.publish(
                self.resources, [_notification(user_id, "flood", {"pad": "x" * pad_bytes})]
            )
            sent += 1
        return sent

    async def _job_event(self, phase: str, n: int) -> None:
        step = n % len(LIFECYCLE)
        if step == 0:
            self._jobs += 1
            self._job = (f"ws-bench-{self._jobs}-{self.rng.getrandbits(32):08x}",
                         self.rng.choice(self.population.users))  # fmt: skip
        job_id, owner = self._job
        kind = LIFECYCLE[step]
        extra: dict[str, Any] = {"args": {}} if kind == "queued" else {}
        if kind == "progress":
            extra["progress"] = {"current": 1, "total": 2, "info": None}
        event = events.make_event(
            kind, job_id=job_id, task="ping", queue="default", try_number=1, priority=2,
            owner_id=owner, bench_owner=owner, bench_phase=phase, sent_at=time.time(), **extra,
        )  # fmt: skip
        await self.resources.redis.publish(keys.LIVE, events.encode(event))
        self.owed.published[f"{phase}:job"] += 1
        self.owed.expected[phase] += self.admin_sockets + self.sockets_of[owner]

    async def _notification(self, phase: str) -> None:
        recipient = self.rng.choice(self.population.users + self.population.admins)
        data = {"bench_phase": phase, "sent_at": time.time()}
        await live.publish(self.resources, [_notification(recipient, "bench", data)])
        self.owed.published[f"{phase}:notification"] += 1
        self.owed.expected[phase] += self.sockets_of[recipient]


def _notification(recipient_id: int, title: str, data: dict[str, Any]) -> Notification:
    return Notification(
        id=None, recipient_id=recipient_id, title=title, message="bench", level="info",
        channels=["redis"], audience="user", data=data, created_at=datetime.now(UTC),
    )  # fmt: skip


async def _paced(rate_per_s: float, seconds: float) -> AsyncIterator[int]:
    """0, 1, 2, … at `rate_per_s` for `seconds`, on a fixed schedule: a step that comes late
    is not caught up in a burst, so its lateness shows in the latency too."""
    start = time.perf_counter()
    n = 0
    while n / rate_per_s < seconds:
        delay_s = start + n / rate_per_s - time.perf_counter()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        yield n
        n += 1
