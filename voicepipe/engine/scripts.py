"""The broker's Lua scripts: each state change of a job is one atomic script run in Valkey/Redis.

Job definitions and results keep arq's key names (`arq:job:<id>`, `arq:result:<id>`); the scripts
build them from the job id, like arq's own scripts do.
"""

from __future__ import annotations

from voicepipe.domain.job_fold import EVENTS_PER_ENTRY

# Wake-up tokens kept per queue: enough to wake every idle worker, never a growing list.
WAKE_TOKENS_MAX = 256
# Jobs per claim and per finish script: their commands pass one argument per job to Lua's
# `unpack`, whose stack holds 8000, and each script writes its jobs' events as one stream entry,
# which holds EVENTS_PER_ENTRY at most.
CLAIM_MAX = 1000
FINISH_MAX = 500
assert max(CLAIM_MAX, FINISH_MAX) <= EVENTS_PER_ENTRY

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
# Commands are batched: one ZADD and one ZREMRANGEBYRANK move every due deferred job, one MGET
# reads the definitions, one HSET writes the running entries and one XADD the started events (one
# stream entry, one JSON per line). A call from Lua costs Valkey more than the command itself, so
# nothing is called per job.
# KEYS: ready, deferred, running, events, live, stop requests, events-enabled
# ARGV: now_ms, worker, max_n (at most CLAIM_MAX), aging_ms, queue, live, result expiry ms
CLAIM = (
    RECORD_CANCELLED_LUA
    + """
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, CLAIM_MAX)
if #due > 0 then
  local ranked = {}
  for i = 1, #due, 2 do
    local member = due[i]
    local sep = string.find(member, ':', 1, true)
    local priority = tonumber(string.sub(member, 1, sep - 1))
    ranked[i] = tonumber(due[i + 1]) - priority * tonumber(ARGV[4])
    ranked[i + 1] = string.sub(member, sep + 1)
  end
  redis.call('ZADD', KEYS[1], unpack(ranked))
  -- the due members are the lowest-ranked ones, exactly those just read
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #due / 2 - 1)
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
if #popped > 0 then
  local job_keys = {}
  for i = 1, #popped, 2 do job_keys[#job_keys + 1] = 'arq:job:' .. popped[i] end
  local payloads = redis.call('MGET', unpack(job_keys))
  local stops = redis.call('HLEN', KEYS[6]) > 0
  local entries, started_events = {}, {}
  for i = 1, #payloads do
    local id, payload = popped[2 * i - 1], payloads[i]
    if payload and stops and redis.call('HDEL', KEYS[6], id) == 1 then
      record_cancelled(id, payload, ARGV[5], now, 'cancelled by an admin', ARGV[7], KEYS[4], KEYS[5], KEYS[7])
    elseif payload then
      local entry, event = started(id, payload)
      entries[#entries + 1] = id
      entries[#entries + 1] = entry
      started_events[#started_events + 1] = event
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = payload
    end
  end
  if #entries > 0 then
    redis.call('HSET', KEYS[3], unpack(entries))
    local all = table.concat(started_events, '\\n')
    redis.call('XADD', KEYS[4], '*', 'e', all)
    if publish then redis.call('PUBLISH', KEYS[5], all) end
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {claimed, first[2] or false}
"""
).replace("CLAIM_MAX", str(CLAIM_MAX))

# Finished jobs, those a worker finished while its last write was in flight (at most FINISH_MAX):
# their events as one stream entry, one JSON per line, also published as one live message if anyone
# listens; their results stored, their definitions dropped in one DEL and their running entries in
# one HDEL per queue. A stop request for a finished job has nothing left to stop and goes too.
# KEYS: events, live, events-enabled, stop requests
# ARGV: result expiry ms, live, the events, then per job: job id, its running hash, its result.
FINISH = """
redis.call('XADD', KEYS[1], '*', 'e', ARGV[3])
if ARGV[2] == '1' and redis.call('GET', KEYS[3]) ~= '0'
    and redis.call('PUBSUB', 'NUMSUB', KEYS[2])[2] > 0 then
  redis.call('PUBLISH', KEYS[2], ARGV[3])
end
local definitions, ids, running = {}, {}, {}
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  redis.call('SET', 'arq:result:' .. id, ARGV[i + 2], 'PX', ARGV[1])
  definitions[#definitions + 1] = 'arq:job:' .. id
  ids[#ids + 1] = id
  local in_hash = running[ARGV[i + 1]]
  if not in_hash then in_hash = {}; running[ARGV[i + 1]] = in_hash end
  in_hash[#in_hash + 1] = id
end
if #definitions > 0 then redis.call('DEL', unpack(definitions)) end
for hash, in_hash in pairs(running) do redis.call('HDEL', hash, unpack(in_hash)) end
if #ids > 0 and redis.call('HLEN', KEYS[4]) > 0 then redis.call('HDEL', KEYS[4], unpack(ids)) end
return #definitions
"""
