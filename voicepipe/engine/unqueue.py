"""Taking jobs out of their queues before they run: cancel one queued job, or purge a whole queue.

Each removal is one Lua script, so a job is either still queued (and a worker may claim it) or
gone with its `cancelled` event in the stream and a result saying so — never half of each.
"""

from __future__ import annotations

import time

from voicepipe import keys
from voicepipe.engine.lua import LuaScript
from voicepipe.engine.scripts import DEFINITION_LUA, PREFIXES_LUA, RECORD_CANCELLED_LUA
from voicepipe.resources import Resources
from voicepipe.settings import QUEUES

PURGE_BATCH = 500

# A definition voicepipe cannot read is cancelled all the same, under what can be known of it.
_UNREADABLE_LUA = """
local function readable_or_stub(payload)
  return read_definition(payload) or {t = 1, f = 'unknown', a = {}, k = {}, et = 0, p = 1}
end
"""

# KEYS: events, live, events-enabled, then ready and deferred of each queue
# ARGV: prefixes, job id, now ms, reason, result expiry ms, then the queue names
_CANCEL_QUEUED = LuaScript(
    PREFIXES_LUA
    + DEFINITION_LUA
    + RECORD_CANCELLED_LUA
    + _UNREADABLE_LUA
    + """
local id = ARGV[4]
local payload = redis.call('GET', JOB .. id)
if not payload then return false end
local job = readable_or_stub(payload)
for i = 4, #KEYS, 2 do
  local removed = redis.call('ZREM', KEYS[i], id)
  if removed == 0 then removed = redis.call('ZREM', KEYS[i + 1], (job.p or 1) .. ':' .. id) end
  if removed == 1 then
    local queue = ARGV[7 + (i - 2) / 2]
    record_cancelled(id, job, queue, tonumber(ARGV[5]), ARGV[6], ARGV[7], KEYS[1], KEYS[2], KEYS[3])
    return queue
  end
end
return false
"""
)

# KEYS: ready, deferred, events, live, events-enabled
# ARGV: prefixes, queue, now ms, reason, expiry ms, max
_PURGE = LuaScript(
    PREFIXES_LUA
    + DEFINITION_LUA
    + RECORD_CANCELLED_LUA
    + _UNREADABLE_LUA
    + """
local now = tonumber(ARGV[5])
local removed, seen = 0, 0
-- ready members are job ids; deferred ones are "<priority>:<job id>"
for k = 1, 2 do
  for _, member in ipairs(redis.call('ZRANGE', KEYS[k], 0, tonumber(ARGV[8]) - 1)) do
    seen = seen + 1
    redis.call('ZREM', KEYS[k], member)
    local sep = string.find(member, ':', 1, true)
    local id = (k == 1 or not sep) and member or string.sub(member, sep + 1)
    local payload = redis.call('GET', JOB .. id)
    if payload then
      record_cancelled(id, readable_or_stub(payload), ARGV[4], now, ARGV[6], ARGV[7], KEYS[3], KEYS[4], KEYS[5])
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
    queue = await _CANCEL_QUEUED(
        resources.redis,
        [*_EVENT_KEYS, *queue_keys],
        [*keys.SCRIPT_PREFIXES, job_id, _now_ms(), reason, _result_expires_ms(resources), *QUEUES],
    )
    return queue.decode() if isinstance(queue, bytes) else queue


async def purge(resources: Resources, queue: str, reason: str) -> int:
    """Cancel every job waiting in `queue`, a batch per script call so Redis never stalls long."""
    total = 0
    while True:
        removed, seen = await _PURGE(
            resources.redis,
            [keys.queue(queue), keys.deferred(queue), *_EVENT_KEYS],
            [*keys.SCRIPT_PREFIXES, queue, _now_ms(), reason, _result_expires_ms(resources),
             PURGE_BATCH],
        )  # fmt: skip
        total += int(removed)
        if int(seen) == 0:
            return total


def _now_ms() -> int:
    return int(time.time() * 1000)


def _result_expires_ms(resources: Resources) -> int:
    return resources.settings.job_result_expires_s * 1000
