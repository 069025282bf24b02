"""The reaper every worker runs: finds jobs of lost workers twice a second and releases them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Protocol

from voicepipe.engine import orphans
from voicepipe.engine.broker import Broker
from voicepipe.engine.heartbeats import HEARTBEAT_INTERVAL_S, HEARTBEAT_TTL_S
from voicepipe.engine.outage import Backoff
from voicepipe.engine.running import RunningEntry, running_entries
from voicepipe.history.recorder import Recorder

log = logging.getLogger(__name__)

SCAN_INTERVAL_S = 0.5
SCAN_RETRY_MAX_S = 4.0  # while scans fail, the wait between them doubles up to this
# After Redis was unreachable (or restarted), every worker needs a beat or two to be seen again:
# until then a missing heartbeat proves nothing.
TRUST_AFTER_S = HEARTBEAT_TTL_S + HEARTBEAT_INTERVAL_S
# An entry of our own that we are not running (a claim whose reply never reached us) is released
# once it is this old, far beyond any claim's round trip.
OWN_STALE_MS = 10_000


class Reaping(Protocol):
    """What the reaper needs of its worker process."""

    @property
    def broker(self) -> Broker: ...
    @property
    def worker_id(self) -> str: ...
    @property
    def running(self) -> Mapping[str, Mapping[str, object]]: ...
    @property
    def live_events(self) -> bool: ...
    @property
    def recorder(self) -> Recorder: ...


async def run_reaper(worker: Reaping, stop: asyncio.Event) -> None:
    """Release lost workers' jobs (and our own forgotten ones) until `stop` is set."""
    reaper = Reaper(worker)
    try:
        while not stop.is_set():
            await reaper.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), reaper.wait_s)
    finally:
        if reaper.taking_over is not None:
            reaper.taking_over.cancel()


class Reaper:
    """One worker's view: when it last lost Redis, and which entries it may release."""

    def __init__(self, worker: Reaping, own_stale_ms: int = OWN_STALE_MS) -> None:
        self.worker = worker
        self.own_stale_ms = own_stale_ms
        self.redis_lost_at = -TRUST_AFTER_S  # trusted from the start, unless the first scan fails
        self.taking_over: asyncio.Task[None] | None = None
        self.wait_s = SCAN_INTERVAL_S  # until the next pass
        self._trouble = Backoff("reaper", SCAN_INTERVAL_S, SCAN_RETRY_MAX_S, log)
        self._take_over_trouble = Backoff("reaper: recording lost workers' events", logger=log)

    async def scan(self) -> list[orphans.Released]:
        """One pass; errors (Redis away or refusing) are logged once, make the next passes wait
        longer, and make them wait for trust again."""
        try:
            released = await self._scan()
        except Exception as exc:
            self.redis_lost_at = time.monotonic()
            self.wait_s = self._trouble.failed(exc)
            return []
        self._trouble.succeeded()
        self.wait_s = SCAN_INTERVAL_S
        return released

    async def _scan(self) -> list[orphans.Released]:
        worker, broker = self.worker, self.worker.broker
        entries = await running_entries(broker.redis)
        released: list[orphans.Released] = []
        mine = [e for e in entries if e.worker == worker.worker_id]
        if mine:
            released += await self._release_forgotten(mine)
        others = [e for e in entries if e.worker != worker.worker_id]
        lost = await orphans.lost_workers(broker, {e.worker for e in others})
        if lost and await self._trusted():
            orphaned = [e for e in others if e.worker in lost]
            released += await orphans.release_all(
                broker, orphaned, worker.worker_id, worker.live_events
            )
        if self.taking_over is None or self.taking_over.done():
            # Apart from the scan: a slow PostgreSQL must not hold up releasing jobs.
            self.taking_over = asyncio.create_task(self._take_over_events(), name="take over")
        return released

    async def _take_over_events(self) -> None:
        """Record the events a lost worker's recorder read but never acknowledged."""
        try:
            lost = await orphans.lost_consumers(self.worker.broker)
            if lost and await self._trusted():
                for consumer in sorted(lost):
                    taken = await self.worker.recorder.take_over(consumer)
                    if taken:
                        log.info("recorded %d events that lost worker %s had read", taken, consumer)
        except Exception as exc:  # PostgreSQL or Redis down: the entries wait in the stream
            self._take_over_trouble.failed(exc)
        else:
            self._take_over_trouble.succeeded()

    async def _trusted(self) -> bool:
        """Whether missing heartbeats mean lost workers: Redis was reachable (and up) long enough."""
        if time.monotonic() - self.redis_lost_at < TRUST_AFTER_S:
            return False
        server = await self.worker.broker.redis.info("server")
        return float(server.get("uptime_in_seconds", 0)) >= TRUST_AFTER_S

    async def _release_forgotten(self, mine: list[RunningEntry]) -> list[orphans.Released]:
        now_ms = int(time.time() * 1000)
        stale = [e for e in mine if now_ms - e.started_ms >= self.own_stale_ms]
        # Right after Redis was away or refusing, an entry of ours may be a finished job whose
        # outcome waits to be written: the finish writer, retrying every second, goes first.
        if not stale or not await self._trusted():
            return []
        running = {job_id for jobs in self.worker.running.values() for job_id in jobs}
        released = []
        for entry in stale:
            if entry.job_id not in running:
                done = await orphans.release(
                    broker=self.worker.broker, entry=entry, released_by=self.worker.worker_id,
                    reason="its worker was not running it", live=self.worker.live_events, own=True,
                )  # fmt: skip
                if done is not None:
                    released.append(done)
        return released
