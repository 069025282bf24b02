"""The Redis side of jobs: enqueue, claim, finish, retry and hand back, each one atomic round trip.

Job definitions and results keep arq's format (`arq:job:<id>`, `arq:result:<id>`, JSON-serialised)
so arq's own tools can read them. What arq lacks is here: priorities, deferred jobs kept apart from
ready ones, an atomic claim (ZPOPMIN in a script, so two workers never race for a job), a running
set per queue, wake-up tokens for millisecond pickup, and a lifecycle event written in the same
step as every state change.

Outcomes are fenced: a finish, a retry or a hand-back changes a job only while its running entry
is still the one this worker's claim wrote. A worker that stalled past its heartbeat has had its
jobs released and run again elsewhere; its late outcome is dropped and recorded as a `stale`
event, and the new try's running entry, definition and result stay as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import serialize_result

from voicepipe import keys
from voicepipe.domain.jobs import ready_rank_ms
from voicepipe.engine import events
from voicepipe.engine.events import UNKNOWN_OWNER, OwnerId
from voicepipe.engine.outage import REDIS_DOWN, persist, redis_unavailable
from voicepipe.engine.scripts import CLAIM, CLAIM_MAX, ENQUEUE, FINISH, FINISH_MAX, PUT_BACK

log = logging.getLogger(__name__)

# Jobs waiting longer than this after their due time are dropped by Redis (arq's default too).
EXPIRES_EXTRA_MS = 86_400_000
REDIS_DOWN_PAUSE_S = 0.5


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=str, separators=(",", ":")).encode()


def loads(raw: bytes | str) -> Any:
    return json.loads(raw)


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to put one job in a queue."""

    job_id: str
    task: str
    queue: str
    kwargs: dict[str, Any]
    priority: int
    try_number: int
    due_ms: int | None  # None: ready now
    owner_id: int | None  # None: a system job
    queued_event: dict[str, Any]

    def payload(self, enqueued_ms: int) -> bytes:
        return definition(
            self.task, self.kwargs, self.try_number, enqueued_ms, self.priority, self.owner_id
        )


@dataclass(frozen=True)
class ClaimedJob:
    job_id: str
    task: str
    queue: str
    kwargs: dict[str, Any]
    try_number: int
    priority: int
    enqueued_ms: int
    started_ms: int
    owner_id: OwnerId  # every event of the job carries it
    entry: str  # its running entry as the claim wrote it: the fence every outcome checks


@dataclass(frozen=True)
class _Finished:
    """A finished job waiting to be written: its stored result and its event."""

    job: ClaimedJob
    stored: bytes
    event: dict[str, Any]
    live: bool


class Broker:
    """Queue operations on one Redis (its scripts are loaded once per process, run by digest)."""

    def __init__(self, redis: ArqRedis, aging_ms: int, result_expires_s: int) -> None:
        self.redis = redis
        self.aging_ms = aging_ms
        self.result_expires_ms = result_expires_s * 1000
        self.stale_outcomes = 0  # outcomes dropped because the job had been released meanwhile
        self._unwritten: list[_Finished] = []
        self._writer: asyncio.Task[None] | None = None  # runs while outcomes wait to be written

    async def enqueue(self, specs: list[JobSpec], live: bool = True) -> list[bool]:
        """Put jobs in their queues; False for a job whose id exists already (nothing changes)."""
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for spec in specs:
                await ENQUEUE(pipe, *self._enqueue_keys_args(spec, now_ms, live))
            results = await pipe.execute()
        return [r == 1 for r in results]

    async def enqueue_rerun(
        self, spec: JobSpec, rerun_of: str, marker_expiry_s: int, live: bool = True
    ) -> bool:
        """Enqueue `spec` as the rerun of job `rerun_of` and mark that job rerun, in one step;
        False (nothing queued) if it was rerun already. A failure leaves it rerunnable."""
        keys_, args = self._enqueue_keys_args(spec, int(time.time() * 1000), live)
        done = await ENQUEUE(
            self.redis, [*keys_, keys.retried_as(rerun_of)], [*args, marker_expiry_s]
        )
        if done == 0:
            raise ValueError(f"a job with id {spec.job_id} already exists")
        return bool(done == 1)

    def _enqueue_keys_args(
        self, spec: JobSpec, now_ms: int, live: bool
    ) -> tuple[list[str], list[Any]]:
        due_ms = spec.due_ms if spec.due_ms is not None and spec.due_ms > now_ms else None
        score = (
            due_ms if due_ms is not None else ready_rank_ms(spec.priority, now_ms, self.aging_ms)
        )
        expire_ms = max(spec.due_ms or now_ms, now_ms) - now_ms + EXPIRES_EXTRA_MS
        return (
            [keys.job(spec.job_id), keys.result(spec.job_id), keys.queue(spec.queue),
             keys.deferred(spec.queue), keys.wake(spec.queue), keys.EVENTS, keys.LIVE,
             keys.EVENTS_ENABLED],
            [spec.payload(now_ms), expire_ms, int(due_ms is not None), score, spec.priority,
             spec.job_id, events.encode(spec.queued_event), int(live)],
        )  # fmt: skip

    async def claim(
        self, queue: str, worker_id: str, max_n: int, live: bool
    ) -> tuple[list[ClaimedJob], int | None]:
        """Take up to `max_n` jobs (CLAIM_MAX at most), best rank first; and when the next is due."""
        now_ms = int(time.time() * 1000)
        claimed, next_due, failed = await CLAIM(
            self.redis,
            [keys.queue(queue), keys.deferred(queue), keys.running(queue), keys.EVENTS, keys.LIVE,
             keys.STOP_REQUESTS, keys.EVENTS_ENABLED],
            [*keys.SCRIPT_PREFIXES, now_ms, worker_id, min(max_n, CLAIM_MAX), self.aging_ms, queue,
             int(live), self.result_expires_ms],
        )  # fmt: skip
        for i in range(0, len(failed), 2):
            log.error("job %s in queue %s failed before it ran: %s",
                      failed[i].decode(errors="replace"), queue, failed[i + 1].decode())  # fmt: skip
        jobs = []
        for i in range(0, len(claimed), 3):
            job = loads(claimed[i + 1])  # the script checked it is a definition it can run
            jobs.append(
                ClaimedJob(
                    job_id=claimed[i].decode(),
                    task=job["f"],
                    queue=queue,
                    kwargs=job["k"],
                    try_number=int(job["t"]),
                    priority=int(job.get("p", 1)),
                    enqueued_ms=int(job["et"]),
                    started_ms=now_ms,
                    owner_id=owner_in(job),
                    entry=claimed[i + 2].decode(),
                )
            )
        return jobs, int(float(next_due)) if next_due else None

    async def wait_for_work(self, queues: list[str], timeout_s: float) -> None:
        """Block until a wake token arrives for one of `queues`, or `timeout_s` passes."""
        try:
            # Redis takes a fractional timeout; redis-py's type hint says int.
            await self.redis.blpop([keys.wake(q) for q in queues], timeout=max(timeout_s, 0.001))  # type: ignore[arg-type, misc]
        except REDIS_DOWN:  # restarting: look again in a moment
            await asyncio.sleep(min(timeout_s, REDIS_DOWN_PAUSE_S))

    def finish(
        self, job: ClaimedJob, success: bool, result: Any, event: dict[str, Any], live: bool
    ) -> None:
        """Queue the job's outcome: its result stored (arq's format), its definition, running entry
        and any stop request dropped, its event recorded.

        Outcomes are written in the background: all those queued while a write is in flight go in
        the next one, one script call (and one stream entry) for them all. The worker need not wait
        to take its next job; until the outcome is written the job's running entry stays, so a
        worker lost meanwhile has the job run again (at least once, as always). `written` waits.
        """
        stored = stored_result(
            job.job_id, job.task, job.kwargs, job.try_number, job.enqueued_ms, job.queue, success,
            result, job.started_ms, int(time.time() * 1000),
        )  # fmt: skip
        self._unwritten.append(_Finished(job, stored, event, live))
        if self._writer is None or self._writer.done():
            # it starts on the next turn of the loop, with every outcome queued in this one
            self._writer = asyncio.create_task(self._write_all(), name="writing outcomes")

    async def written(self) -> None:
        """Wait until every queued outcome is written (or has failed and been logged), those
        queued meanwhile too: the writer stops only when none is left."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])  # a cancelled caller leaves the writer running

    async def _write_all(self) -> None:
        """Write queued outcomes until none is left, one script call in flight at a time."""
        while self._unwritten:
            batch, self._unwritten = self._unwritten, []
            for start in range(0, len(batch), FINISH_MAX):
                await self._write_batch(batch[start : start + FINISH_MAX])

    async def _write_batch(self, batch: list[_Finished]) -> None:
        # One script call for the whole batch: packing one command is far cheaper in redis-py
        # than packing several per job, and the script is atomic like a transaction.
        args: list[Any] = [
            *keys.SCRIPT_PREFIXES,
            self.result_expires_ms,
            int(any(item.live for item in batch)),
        ]
        for item in batch:
            job = item.job
            args += (job.job_id, keys.running(job.queue), job.entry, item.stored,
                     events.encode(item.event))  # fmt: skip

        async def write() -> list[bytes]:
            stale: list[bytes] = await FINISH(
                self.redis, [keys.EVENTS, keys.LIVE, keys.EVENTS_ENABLED, keys.STOP_REQUESTS], args
            )
            return stale

        try:
            stale = {job_id.decode() for job_id in await persist("finishing jobs", write)}
        except Exception:
            log.exception(
                "could not write the outcome of %d job(s) (%s); they stay in their running hash",
                len(batch),
                ", ".join(item.job.job_id for item in batch[:5]),
            )
            return
        if stale:
            await self._record_stale(
                [(item.job, item.event) for item in batch if item.job.job_id in stale]
            )

    async def _record_stale(self, outcomes: list[tuple[ClaimedJob, dict[str, Any]]]) -> None:
        """Note outcomes that were dropped: the job had been released while this worker stalled."""
        self.stale_outcomes += len(outcomes)
        for job, outcome in outcomes:
            log.warning(
                "job %s (%s) try %d: its %s came after the job was released to run again "
                "(this worker stalled past its heartbeat); dropped",
                job.job_id, job.task, job.try_number, outcome["event"],
            )  # fmt: skip

        async def write() -> None:
            async with self.redis.pipeline(transaction=False) as pipe:
                for job, outcome in outcomes:
                    event = events.make_event(
                        "stale", job_id=job.job_id, task=job.task, queue=job.queue,
                        try_number=job.try_number, priority=job.priority, owner_id=job.owner_id,
                        worker=outcome.get("worker"), outcome=outcome["event"],
                    )  # fmt: skip
                    events.add_to(pipe, event, live=False)
                await pipe.execute()

        try:  # a note for the history: the outcomes themselves are settled either way
            await persist("recording stale outcomes", write)
        except Exception:
            log.exception("could not record %d stale outcome(s) in the history", len(outcomes))

    async def retry_later(
        self, job: ClaimedJob, due_ms: int, event: dict[str, Any], live: bool
    ) -> bool:
        """Put the job back as deferred with its try number raised; it runs again at `due_ms`.
        False if the job was no longer this worker's (stale: nothing changed)."""
        expire_ms = due_ms - int(time.time() * 1000) + EXPIRES_EXTRA_MS
        return await self._put_back(
            job, keys.deferred(job.queue), f"{job.priority}:{job.job_id}", due_ms, expire_ms,
            event, live, "scheduling a retry",
        )  # fmt: skip

    async def hand_back(self, job: ClaimedJob, event: dict[str, Any], live: bool) -> bool:
        """Return an unfinished job to its old place in the queue, as a new try (worker shutting
        down); False if it was no longer this worker's."""
        rank = ready_rank_ms(job.priority, job.enqueued_ms, self.aging_ms)
        return await self._put_back(
            job, keys.queue(job.queue), job.job_id, rank, EXPIRES_EXTRA_MS, event, live,
            "handing a job back",
        )  # fmt: skip

    async def _put_back(
        self, job: ClaimedJob, zset: str, member: str, score: int, expire_ms: int,
        event: dict[str, Any], live: bool, what: str,
    ) -> bool:  # fmt: skip
        """One try further: definition rewritten, `member` added to `zset`, running entry gone;
        only while the running entry is still this claim's (else a `stale` event, and False)."""

        async def write() -> int:
            done: int = await PUT_BACK(
                self.redis,
                [keys.running(job.queue), keys.job(job.job_id), zset, keys.wake(job.queue),
                 keys.EVENTS, keys.LIVE, keys.EVENTS_ENABLED],
                [job.job_id, job.entry, _next_try(job), expire_ms, member, score,
                 events.encode(event), int(live)],
            )  # fmt: skip
            return done

        if await persist(what, write) == 1:
            return True
        await self._record_stale([(job, event)])
        return False

    async def publish(self, event: dict[str, Any], live: bool) -> None:
        """Write a progress event; while Redis is away or refusing it is dropped (the next one
        supersedes it): a passing Redis trouble must not fail the job that reports progress."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                events.add_to(pipe, event, live)
                await pipe.execute()
        except Exception as exc:
            if redis_unavailable(exc) is None:
                raise


def stored_result(
    job_id: str, task: str, kwargs: dict[str, Any], try_number: int, enqueued_ms: int, queue: str,
    success: bool, result: Any, started_ms: int, finished_ms: int,
) -> bytes:  # fmt: skip
    """A finished job's result in arq's format, as `arq:result:<id>` holds it."""
    stored = serialize_result(
        task, (), kwargs, try_number, enqueued_ms, success, result, started_ms, finished_ms,
        f"{job_id}:{task}", keys.queue(queue), job_id, serializer=dumps,
    )  # fmt: skip
    assert stored is not None  # dumps turns anything into JSON (default=str)
    return stored


def definition(
    task: str, kwargs: dict[str, Any], try_number: int, enqueued_ms: int, priority: int,
    owner_id: OwnerId,
) -> bytes:  # fmt: skip
    """A job definition in arq's shape (t, f, a, k, et; arq ignores the rest) plus its priority (p)
    and its owner (u: a user id, null for a system job; left out when unknown), as JSON."""
    job = {"t": try_number, "f": task, "a": [], "k": kwargs, "et": enqueued_ms, "p": priority}
    if owner_id is not UNKNOWN_OWNER:
        job["u"] = owner_id
    return dumps(job)


def owner_in(job: dict[str, Any]) -> OwnerId:
    """The owner a decoded job definition names; unknown if it was written before owners were."""
    owner: OwnerId = job.get("u", UNKNOWN_OWNER)
    return owner


def _next_try(job: ClaimedJob) -> bytes:
    """The job's definition with its try number raised by one."""
    return definition(
        job.task, job.kwargs, job.try_number + 1, job.enqueued_ms, job.priority, job.owner_id
    )
