"""Orphaned jobs: running entries whose worker is gone, released to their queue as a new try.

A worker that dies (kill -9, lost machine) leaves its claimed jobs in `running:<queue>`. Once its
heartbeat key has expired (Redis' own clock, so clocks of other machines do not matter), any
worker's reaper finds those entries and releases each with one script that checks, atomically,
that the entry is still owned by that worker, that the worker's heartbeat is still missing and that
the job definition is unchanged; then it raises the try, puts the job back at its old rank, wakes a
worker and writes a `retry` event (`orphaned: true`) to the history. Two reapers racing for the
same job cannot both release it: the second finds the entry gone or owned by someone else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from voicepipe import keys
from voicepipe.domain.jobs import ready_rank_ms
from voicepipe.engine import events
from voicepipe.engine.broker import (
    EXPIRES_EXTRA_MS,
    Broker,
    dumps,
    loads,
    owner_in,
    stored_result,
)
from voicepipe.engine.lua import LuaScript
from voicepipe.engine.running import RunningEntry, running_entries
from voicepipe.engine.scripts import WAKE_TOKENS_MAX
from voicepipe.settings import QUEUES

log = logging.getLogger(__name__)

# A claim lands a moment before the claiming worker's first heartbeat; younger entries are left alone.
MIN_AGE_MS = 1000
WORKER_LOST = "WorkerLost"

# A lost worker's recorder, with nothing left unacknowledged, is removed from the group this late.
FORGET_CONSUMER_MS = 60_000
# A job whose worker is lost more often than this in a row fails instead: it may be what kills
# them. Far above what chance does (a chaos run's kills keep hitting the jobs just released, which
# go to the front of the queue), low enough that a poisonous job stops crashing workers soon.
MAX_LOSSES = 10

# KEYS: running, job, queue, wake, events, live, owner's heartbeat, result
# ARGV: job id, owner, old definition, new definition (or result), rank, event, live, now ms,
#       min age ms, definition (or result) expiry ms, "1" when the owner releases its own entry
_STILL_ORPHANED = """#!lua
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local running = cjson.decode(entry)
if running.worker ~= ARGV[2] then return 0 end
if ARGV[11] ~= '1' and redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
if tonumber(running.started_ms) > tonumber(ARGV[8]) - tonumber(ARGV[9]) then return 0 end
local current = redis.call('GET', KEYS[2])
if not current then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return -1
end
if current ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[5], '*', 'e', ARGV[6])
if ARGV[7] == '1' then redis.call('PUBLISH', KEYS[6], ARGV[6]) end
"""
_RELEASE = LuaScript(
    _STILL_ORPHANED
    + """
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[10])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, WAKE_MAX)
return 1
""".replace("WAKE_MAX", str(WAKE_TOKENS_MAX - 1))
)
_GIVE_UP = LuaScript(
    _STILL_ORPHANED
    + """
redis.call('SET', KEYS[8], ARGV[4], 'PX', ARGV[10])
redis.call('DEL', KEYS[2])
return 1
"""
)


@dataclass(frozen=True)
class Released:
    """A job put back in its queue because its worker was lost."""

    entry: RunningEntry
    try_number: int  # the try it will run as; 0 when it failed instead (lost too often)


async def lost_workers(broker: Broker, worker_ids: Collection[str]) -> set[str]:
    """The workers among `worker_ids` whose heartbeat key has expired (or was never written)."""
    ids = sorted(set(worker_ids))
    if not ids:
        return set()
    async with broker.redis.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.exists(keys.worker(worker_id))
        alive = await pipe.execute()
    return {worker_id for worker_id, n in zip(ids, alive, strict=True) if not n}


async def lost_consumers(broker: Broker) -> set[str]:
    """Recorders (consumers of the event stream, named after their worker) of lost workers that
    hold unacknowledged events, or have been idle long enough to be forgotten."""
    try:
        consumers = await broker.redis.xinfo_consumers(keys.EVENTS, keys.RECORDERS)
    except ResponseError:  # no stream or group yet
        return set()
    holding = {
        c["name"].decode() if isinstance(c["name"], bytes) else str(c["name"])
        for c in consumers
        if (c["pending"] and c["idle"] > MIN_AGE_MS) or c["idle"] > FORGET_CONSUMER_MS
    }
    return await lost_workers(broker, holding)


async def release(
    broker: Broker,
    entry: RunningEntry,
    released_by: str,
    reason: str,
    live: bool = True,
    own: bool = False,
) -> Released | None:
    """Put an orphaned job back in its queue as a new try; None if it is not (or no longer) orphaned.

    `own` is for a worker releasing an entry of its own that it is not running (a claim whose reply
    was lost): its heartbeat is live, so that check is skipped; ownership and age still hold.
    """
    raw = await broker.redis.get(keys.job(entry.job_id))
    if raw is None:
        await _drop_if_finished(broker, entry, own)
        return None
    job = loads(raw)
    losses = int(job.get("o", 0)) + 1
    priority = int(job.get("p", 1))
    now_ms = int(time.time() * 1000)
    common = {"job_id": entry.job_id, "task": job["f"], "queue": entry.queue,
              "try_number": int(job["t"]), "priority": priority, "owner_id": owner_in(job),
              "worker": entry.worker,
              "traceback": None, "orphaned": True, "released_by": released_by}  # fmt: skip
    if losses > MAX_LOSSES:
        return await _give_up(broker, entry, raw, job, common, reason, live, own)
    error = f"{WORKER_LOST}: {reason}"
    event = events.make_event("retry", error=error, eta=now_ms / 1000, **common)
    # The definition as it was (arq's fields and ours, its owner too), one try further, with the
    # losses counted; a retry or a hand-back writes a fresh one, so only losses in a row add up.
    again = dumps({**job, "t": int(job["t"]) + 1, "o": losses})
    rank = ready_rank_ms(priority, int(job["et"]), broker.aging_ms)
    done = await _RELEASE(
        broker.redis,
        _keys(entry),
        [entry.job_id, entry.worker, raw, again, rank, events.encode(event), int(live), now_ms,
              MIN_AGE_MS, EXPIRES_EXTRA_MS, int(own)],
    )  # fmt: skip
    if done != 1:
        return None
    log.warning("released job %s (%s) of lost worker %s: runs again as try %d",
                entry.job_id, entry.task, entry.worker, int(job["t"]) + 1)  # fmt: skip
    return Released(entry, int(job["t"]) + 1)


async def _give_up(
    broker: Broker, entry: RunningEntry, raw: bytes, job: dict[str, Any], common: dict[str, Any],
    reason: str, live: bool, own: bool,
) -> Released | None:  # fmt: skip
    """Fail a job lost MAX_LOSSES + 1 times in a row, in arq's result format, with the reason."""
    now_ms = int(time.time() * 1000)
    error = (f"{WORKER_LOST}: {reason}; its worker was lost {MAX_LOSSES + 1} times in a row "
             "running it, so it is not run again")  # fmt: skip
    event = events.make_event("failure", error=error, runtime_s=None, **common)
    stored = stored_result(
        entry.job_id, job["f"], job["k"], int(job["t"]), int(job["et"]), entry.queue, False,
        {"error": error}, entry.started_ms, now_ms,
    )  # fmt: skip
    done = await _GIVE_UP(
        broker.redis,
        _keys(entry),
        [entry.job_id, entry.worker, raw, stored, 0, events.encode(event), int(live), now_ms,
              MIN_AGE_MS, broker.result_expires_ms, int(own)],
    )  # fmt: skip
    if done != 1:
        return None
    log.error("job %s (%s) failed: %s", entry.job_id, entry.task, error)
    return Released(entry, 0)


async def _drop_if_finished(broker: Broker, entry: RunningEntry, own: bool) -> None:
    """A running entry whose job definition is gone (finished or expired) is only clutter."""
    now_ms = int(time.time() * 1000)
    await _RELEASE(
        broker.redis,
        _keys(entry),
        [entry.job_id, entry.worker, "", "", 0, "", 0, now_ms, MIN_AGE_MS, 0, int(own)],
    )


def _keys(entry: RunningEntry) -> list[str]:
    return [keys.running(entry.queue), keys.job(entry.job_id), keys.queue(entry.queue),
            keys.wake(entry.queue), keys.EVENTS, keys.LIVE, keys.worker(entry.worker),
            keys.result(entry.job_id)]  # fmt: skip


async def release_all(
    broker: Broker, entries: list[RunningEntry], released_by: str, live: bool = True
) -> list[Released]:
    """Release each of `entries` (of lost workers) that is still orphaned."""
    released = []
    for entry in entries:
        reason = f"worker {entry.worker} stopped sending heartbeats"
        done = await release(broker, entry, released_by, reason, live)
        if done is not None:
            released.append(done)
    return released


async def release_orphans(
    broker: Broker, released_by: str, live: bool = True, queues: Collection[str] = QUEUES
) -> list[Released]:
    """Release every running job of every lost worker (a reaper pass, less its caution)."""
    entries = await running_entries(broker.redis, queues)
    lost = await lost_workers(broker, {e.worker for e in entries})
    return await release_all(broker, [e for e in entries if e.worker in lost], released_by, live)
