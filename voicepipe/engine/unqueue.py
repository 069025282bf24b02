"""Taking jobs out of their queues before they run: cancel one queued job, or purge a whole queue.

Each removal is one Lua script, so a job is either still queued (and a worker may claim it) or
gone with its `cancelled` event in the stream and a result saying so — never half of each.
"""

from __future__ import annotations

import time

from voicepipe import keys
from voicepipe.engine.scripts import RECORD_CANCELLED_LUA
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES

PURGE_BATCH = 500

# KEYS: events, live, events-enabled, then ready and deferred of each queue
# ARGV: job id, now ms, reason, result expiry ms, then the queue names
_CANCEL_QUEUED = (
    RECORD_CANCELLED_LUA
    + """
local id = ARGV[1]
local payload = redis.call('GET', 'arq:job:' .. id)
if not payload then return false end
local priority = cjson.decode(payload).p or 1
for i = 4, #KEYS, 2 do
  local removed = redis.call('ZREM', KEYS[i], id)
  if removed == 0 then removed = redis.call('ZREM', KEYS[i + 1], priority .. ':' .. id) end
  if removed == 1 then
    local queue = ARGV[4 + (i - 2) / 2]
    record_cancelled(id, payload, queue, tonumber(ARGV[2]), ARGV[3], ARGV[4], KEYS[1], KEYS[2], KEYS[3])
    return queue
  end
end
return false
"""
)

# KEYS: ready, deferred, events, live, events-enabled   ARGV: queue, now ms, reason, expiry ms, max
_PURGE = (
    RECORD_CANCELLED_LUA
    + """
local now = tonumber(ARGV[2])
local removed, seen = 0, 0
-- ready members are job ids; deferred ones are "<priority>:<job id>"
for k = 1, 2 do
  for _, member in ipairs(redis.call('ZRANGE', KEYS[k], 0, tonumber(ARGV[5]) - 1)) do
    seen = seen + 1
    redis.call('ZREM', KEYS[k], member)
    local id = k == 1 and member or string.sub(member, string.find(member, ':', 1, true) + 1)
    local payload = redis.call('GET', 'arq:job:' .. id)
    if payload then
      record_cancelled(id, payload, ARGV[1], now, ARGV[3], ARGV[4], KEYS[3], KEYS[4], KEYS[5])
      removed = removed + 1
    end
  end
end
return {removed, seen}
"""
)

_EVENT_KEYS = [keys.EVENTS, keys.LIVE, keys.EVENTS_ENABLED]


async def cancel_queued(resources: Resources, job_id: str, reason: str) -> str | None:
    """Cancel the job if it is waiting in a queue (ready, deferred or awaiting a retry).

    Returns the queue it was taken from, or None if it was not waiting anywhere.
    """
    queue_keys = [k for q in QUEUES for k in (keys.queue(q), keys.deferred(q))]
    script = resources.redis.register_script(_CANCEL_QUEUED)
    queue = await script(
        keys=[*_EVENT_KEYS, *queue_keys],
        args=[job_id, _now_ms(), reason, _result_expires_ms(resources), *QUEUES],
    )
    return queue.decode() if isinstance(queue, bytes) else queue


async def purge(resources: Resources, queue: str, reason: str) -> int:
    """Cancel every job waiting in `queue`, a batch per script call so Redis never stalls long."""
    script = resources.redis.register_script(_PURGE)
    total = 0
    while True:
        removed, seen = await script(
            keys=[keys.queue(queue), keys.deferred(queue), *_EVENT_KEYS],
            args=[queue, _now_ms(), reason, _result_expires_ms(resources), PURGE_BATCH],
        )
        total += int(removed)
        if int(seen) == 0:
            return total


def _now_ms() -> int:
    return int(time.time() * 1000)


def _result_expires_ms(resources: Resources) -> int:
    return resources.settings.job_result_expires_s * 1000
