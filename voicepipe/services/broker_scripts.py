"""The broker's Lua scripts: each state change of a job is one atomic script run in Valkey/Redis.

Job definitions and results keep arq's key names (`arq:job:<id>`, `arq:result:<id>`); the scripts
build them from the job id, like arq's own scripts do.
"""

from __future__ import annotations

# Wake-up tokens kept per queue: enough to wake every idle worker, never a growing list.
WAKE_TOKENS_MAX = 256

# KEYS: job, result, ready, deferred, wake, events, live, events-enabled
# ARGV: definition, expiry ms, deferred?, score, priority, job id, queued event, live
ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5] .. ':' .. ARGV[6])
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
end
redis.call('LPUSH', KEYS[5], '1')
redis.call('LTRIM', KEYS[5], 0, WAKE_MAX)
redis.call('XADD', KEYS[6], '*', 'e', ARGV[7])
if ARGV[8] == '1' and redis.call('GET', KEYS[8]) ~= '0' then redis.call('PUBLISH', KEYS[7], ARGV[7]) end
return 1
""".replace("WAKE_MAX", str(WAKE_TOKENS_MAX - 1))

# The cancelled event and the arq-format result of the job whose definition is `payload`.
RECORD_CANCELLED_LUA = """
local function record_cancelled(id, payload, queue, now, reason, expires_ms, events, live, enabled)
  local job = cjson.decode(payload)
  local event = cjson.encode({event = 'cancelled', job_id = id, task = job.f, queue = queue,
                              at = now / 1000, try = job.t, priority = job.p, reason = reason})
  redis.call('XADD', events, '*', 'e', event)
  if redis.call('GET', enabled) ~= '0' then redis.call('PUBLISH', live, event) end
  local result = cjson.encode({t = job.t, f = job.f, a = job.a, k = job.k, et = job.et, s = false,
                               r = {cancelled = true, reason = reason}, st = now, ft = now,
                               q = 'voicepipe:queue:' .. queue, id = id})
  redis.call('SET', 'arq:result:' .. id, result, 'PX', expires_ms)
  redis.call('DEL', 'arq:job:' .. id)
end
"""

# A job cancelled while its worker was lost is dropped here instead of started again.
# KEYS: ready, deferred, running, events, live, stop requests, events-enabled
# ARGV: now_ms, worker, max_n, aging_ms, queue, live, result expiry ms
CLAIM = (
    RECORD_CANCELLED_LUA
    + """
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1000)
for i = 1, #due, 2 do
  local member = due[i]
  local sep = string.find(member, ':', 1, true)
  local priority = tonumber(string.sub(member, 1, sep - 1))
  redis.call('ZADD', KEYS[1], tonumber(due[i + 1]) - priority * tonumber(ARGV[4]), string.sub(member, sep + 1))
  redis.call('ZREM', KEYS[2], member)
end
local publish = ARGV[6] == '1' and redis.call('PUBSUB', 'NUMSUB', KEYS[5])[2] > 0
-- The running entry and the started event, as JSON. Written out by hand when every value is a
-- plain name or number (the common case: it costs a fraction of decoding and encoding with cjson).
local SAFE = '^[%w_%.%-:]+$'
local plain_worker = string.match(ARGV[2], SAFE) and string.match(ARGV[5], SAFE)
local at = string.format('%.3f', now / 1000)
local function started(id, payload)
  if plain_worker and string.match(id, SAFE) then
    local try, task = string.match(payload, '^{"t":(%d+),"f":"([%w_%.%-]+)"')
    local priority = string.match(payload, ',"p":(%d+)}$')
    if try and task and priority then
      return '{"worker":"' .. ARGV[2] .. '","started_ms":' .. ARGV[1] .. ',"try":' .. try ..
               ',"task":"' .. task .. '"}',
             '{"event":"started","job_id":"' .. id .. '","task":"' .. task .. '","queue":"' ..
               ARGV[5] .. '","at":' .. at .. ',"try":' .. try .. ',"priority":' .. priority ..
               ',"worker":"' .. ARGV[2] .. '"}'
    end
  end
  local job = cjson.decode(payload)
  return cjson.encode({worker = ARGV[2], started_ms = now, try = job.t, task = job.f}),
         cjson.encode({event = 'started', job_id = id, task = job.f, queue = ARGV[5],
                       at = now / 1000, try = job.t, priority = job.p, worker = ARGV[2]})
end
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[3]))
local claimed = {}
for i = 1, #popped, 2 do
  local id = popped[i]
  local payload = redis.call('GET', 'arq:job:' .. id)
  if payload and redis.call('HDEL', KEYS[6], id) == 1 then
    record_cancelled(id, payload, ARGV[5], now, 'cancelled by an admin', ARGV[7], KEYS[4], KEYS[5], KEYS[7])
  elseif payload then
    local entry, event = started(id, payload)
    redis.call('HSET', KEYS[3], id, entry)
    redis.call('XADD', KEYS[4], '*', 'e', event)
    if publish then redis.call('PUBLISH', KEYS[5], event) end
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = payload
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {claimed, first[2] or false}
"""
)

# KEYS: events, live, events-enabled   ARGV: result expiry ms, live, then per job:
# job id, its running hash, its stored result ('' for none), its event
FINISH = """
local publish = ARGV[2] == '1' and redis.call('GET', KEYS[3]) ~= '0'
  and redis.call('PUBSUB', 'NUMSUB', KEYS[2])[2] > 0
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  if ARGV[i + 2] ~= '' then redis.call('SET', 'arq:result:' .. id, ARGV[i + 2], 'PX', ARGV[1]) end
  redis.call('DEL', 'arq:job:' .. id)
  redis.call('HDEL', ARGV[i + 1], id)
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i + 3])
  if publish then redis.call('PUBLISH', KEYS[2], ARGV[i + 3]) end
end
return #ARGV
"""
