"""Whose job an event is: the event says (owner_id); for an event that does not, a per-process
cache filled from queued events, PostgreSQL for the rest.

Every event names its job's owner (null for a system job) and goes to them at once. Events
without owner_id (written by an older version during a rolling upgrade, or of a job whose
definition predates owners) are routed the old way: jobs this process saw queued are answered from
the cache; for the others their row is looked up, many jobs in one query. A job not recorded yet
(the recorder writes in batches) is asked again shortly, for up to LOOKUP_WINDOW_S; until its owner
is known, its events wait, in order, and reach no user. Admins get every event at once and never
wait on this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from voicepipe.db import feed as feed_db
from voicepipe.engine.outage import Backoff

log = logging.getLogger(__name__)

CACHE_MAX = 100_000  # jobs remembered (about 200 bytes each)
LOOKUP_WINDOW_S = 10.0  # how long a job's owner is looked for before its events reach admins only
LOOKUP_EVERY_S = 0.05  # pause between lookups: a lookup covers every job that waits meanwhile
MAX_WAITING_EVENTS = 10_000  # events held back across all jobs; past this the oldest are dropped
FINAL = frozenset({"success", "failure", "cancelled"})

Deliver = Callable[[int | None, str, str], None]  # owner (None: nobody), job id, message


@dataclass
class _Waiting:
    since: float
    messages: list[str] = field(default_factory=list)


class Owners:
    def __init__(self, db: asyncpg.Pool, deliver: Deliver) -> None:
        self._db = db
        self._deliver = deliver
        self._known: OrderedDict[str, int | None] = OrderedDict()
        self._waiting: dict[str, _Waiting] = {}
        self._held = 0
        self._wake = asyncio.Event()
        self.lookups = 0  # PostgreSQL queries made
        self.unresolved = 0  # jobs whose owner was not found in time

    def route(self, event: dict[str, object], message: str) -> None:
        """Deliver `message` (the encoded event) to the job's owner, now or once it is known."""
        job_id = self.learn(event)
        waiting = self._waiting.get(job_id)
        if "owner_id" in event:
            owner_id = _owner(event)
            if waiting is not None:  # events of an older writer wait for it: they go first
                self._remember(job_id, owner_id)
            if event.get("event") in FINAL:
                self._known.pop(job_id, None)
            self._deliver(owner_id, job_id, message)
            return
        if waiting is None and job_id in self._known:
            owner_id = self._known[job_id]
            self._known.move_to_end(job_id)
            if event.get("event") in FINAL:
                del self._known[job_id]  # no more events, save a stale one now and then
            self._deliver(owner_id, job_id, message)
            return
        if waiting is None:
            waiting = self._waiting[job_id] = _Waiting(time.monotonic())
            self._wake.set()
        waiting.messages.append(message)
        self._held += 1
        if self._held > MAX_WAITING_EVENTS:
            self._drop_oldest()

    def learn(self, event: dict[str, object]) -> str:
        """Note the owner a queued event names; returns the event's job id."""
        job_id = str(event["job_id"])
        if event.get("event") == "queued":  # for the events an older worker may write next
            self._remember(job_id, _owner(event))
        return job_id

    def _remember(self, job_id: str, owner_id: int | None) -> None:
        self._known[job_id] = owner_id
        self._known.move_to_end(job_id)
        if len(self._known) > CACHE_MAX:
            self._known.popitem(last=False)
        if job_id in self._waiting:
            self._release(job_id, owner_id)

    def _release(self, job_id: str, owner_id: int | None) -> None:
        waiting = self._waiting.pop(job_id)
        self._held -= len(waiting.messages)
        for message in waiting.messages:
            self._deliver(owner_id, job_id, message)

    def _drop_oldest(self) -> None:
        job_id = next(iter(self._waiting))
        self._held -= len(self._waiting.pop(job_id).messages)
        self.unresolved += 1

    async def run(self) -> None:
        """Look up the owners of waiting jobs, batched, until cancelled."""
        trouble = Backoff("live feed: looking up job owners", logger=log)
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                job_ids = list(self._waiting)
                try:
                    found = await feed_db.job_owners(self._db, job_ids)
                    trouble.succeeded()
                except Exception as exc:  # PostgreSQL away: the jobs wait (and expire) meanwhile
                    found = {}
                    await asyncio.sleep(trouble.failed(exc))
                self.lookups += 1
                for job_id, owner_id in found.items():
                    self._remember(job_id, owner_id)
                self._expire(time.monotonic() - LOOKUP_WINDOW_S)
                if self._waiting:
                    await asyncio.sleep(LOOKUP_EVERY_S)

    def _expire(self, before: float) -> None:
        for job_id in [j for j, w in self._waiting.items() if w.since < before]:
            log.info("job %s: no owner found in %.0fs; its live events went to admins only",
                     job_id, LOOKUP_WINDOW_S)  # fmt: skip
            self._held -= len(self._waiting.pop(job_id).messages)
            self.unresolved += 1


def _owner(event: dict[str, object]) -> int | None:
    owner = event.get("owner_id")
    return owner if isinstance(owner, int) else None
