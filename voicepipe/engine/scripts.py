"""The broker's Lua scripts: each state change of a job is one atomic script run in Valkey/Redis.

Keys: every key a script touches comes in KEYS, except the per-job keys of jobs it finds in Redis
(a claim pops ids it could not know in advance, a purge walks a queue): those it builds from the
prefixes of `keys.SCRIPT_PREFIXES`, passed as its first three arguments and named by PREFIXES_LUA.

Each script that writes starts with `#!lua`. Redis refuses such a script whole, before it runs,
when it cannot take writes (out of memory under `maxmemory` with `noeviction`, a read-only replica
after a failover); a script without it runs until its first refused write, with the earlier
writes made, and Redis does not roll a script back. Each validates before it mutates.
"""

from __future__ import annotations

from voicepipe.domain.job_fold import EVENTS_PER_ENTRY
from voicepipe.engine.lua import LuaScript

# Wake-up tokens kept per queue: enough to wake every idle worker, never a growing list.
WAKE_TOKENS_MAX = 256
# Jobs per claim and per finish script: their commands pass one argument per job to Lua's
# `unpack`, whose stack holds 8000, and each script writes its jobs' events as one stream entry,
# which holds EVENTS_PER_ENTRY at most.
CLAIM_MAX = 1000
FINISH_MAX = 500
assert max(CLAIM_MAX, FINISH_MAX) <= EVENTS_PER_ENTRY

PREFIXES_LUA = """#!lua
-- keys.SCRIPT_PREFIXES: job definitions, results, ready queues
local JOB, RESULT, QUEUE = ARGV[1], ARGV[2], ARGV[3]
"""

# read_definition(payload): the job definition as a table when voicepipe can run it (arq's JSON
# fields: t try, f task, k kwargs, et enqueued ms; p priority; u owner: a user id, cjson.null for a
# system job, nil when written before owners were, so an event's owner_id is left out), else nil
# and why not. Never raises: a script that has already popped the job must still record what
# became of it.
DEFINITION_LUA = """
local function read_definition(payload)
  local ok, job = pcall(cjson.decode, payload)
  if not ok or type(job) ~= 'table' then
    return nil, 'unreadable definition: not JSON (written by another client, e.g. with pickle?)'
  end
  if type(job.f) ~= 'string' or type(job.t) ~= 'number' or type(job.et) ~= 'number'
      or type(job.k) ~= 'table' or (job.p ~= nil and type(job.p) ~= 'number') then
    return nil, 'unreadable definition: JSON without the fields of a job (t, f, k, et)'
  end
  return job
end
"""

# record_cancelled(id, job, queue, now, reason, expires_ms, events, live, enabled): the cancelled
# event and the arq-format result of job `id` (its decoded definition `job`); the definition goes.
RECORD_CANCELLED_LUA = """
local function record_cancelled(id, job, queue, now, reason, expires_ms, events, live, enabled)
  local event = cjson.encode({event = 'cancelled', job_id = id, task = job.f, queue = queue,
                              at = now / 1000, try = job.t, priority = job.p, owner_id = job.u,
                              reason = reason})
  redis.call('XADD', events, '*', 'e', event)
  if redis.call('GET', enabled) ~= '0' then redis.call('PUBLISH', live, event) end
  local result = cjson.encode({t = job.t, f = job.f, a = job.a, k = job.k, et = job.et, s = false,
                               r = {cancelled = true, reason = reason}, st = now, ft = now,
                               q = QUEUE .. queue, id = id})
  redis.call('SET', RESULT .. id, result, 'PX', expires_ms)
  redis.call('DEL', JOB .. id)
end
"""

# A new job, unless its id is taken (definition or result exists); for a rerun of a failed job
# (KEYS[9] given), also unless that job was rerun already, and marked rerun in the same step.
# KEYS: job, result, ready, deferred, wake, events, live, events-enabled[, retried-as marker]
# ARGV: definition, expiry ms, deferred?, score, priority, job id, queued event, live[, marker s]
# Returns 1 queued, 0 the id exists, -1 the job named by the marker was rerun already.
ENQUEUE = LuaScript(
    """#!lua
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if KEYS[9] and redis.call('EXISTS', KEYS[9]) == 1 then return -1 end
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
if KEYS[9] then redis.call('SET', KEYS[9], ARGV[6], 'EX', ARGV[9]) end
return 1
""".replace("WAKE_MAX", str(WAKE_TOKENS_MAX - 1))
)

# Claim: promote due deferred jobs, pop the best-ranked ready ones, and for each popped job either
# start it (running entry + started event), or drop it as cancelled (a stop request from while its
# worker was lost), or fail it when it cannot run (its definition expired or is unreadable). Nothing
# after the ZPOPMIN can raise, so no popped job is lost.
# Commands are batched: one ZADD and one ZREMRANGEBYRANK move every due deferred job, one MGET
# reads the definitions, one HSET writes the running entries and one XADD the events (one stream
# entry, one JSON per line). A call from Lua costs Valkey more than the command itself, so nothing
# is called per job.
# KEYS: ready, deferred, running, events, live, stop requests, events-enabled
# ARGV: prefixes, now_ms, worker, max_n (at most CLAIM_MAX), aging_ms, queue, live, result expiry ms
# Returns {claimed: id, definition, running entry, ...; next due ms or false; failed: id, why, ...}
CLAIM = LuaScript(
    PREFIXES_LUA
    + DEFINITION_LUA
    + RECORD_CANCELLED_LUA
    + """
local now, worker, queue = tonumber(ARGV[4]), ARGV[5], ARGV[8]
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, CLAIM_MAX)
if #due > 0 then
  local ranked = {}
  for i = 1, #due, 2 do
    local member = due[i]
    local sep = string.find(member, ':', 1, true)
    local priority = tonumber(string.sub(member, 1, sep - 1))
    ranked[i] = tonumber(due[i + 1]) - priority * tonumber(ARGV[7])
    ranked[i + 1] = string.sub(member, sep + 1)
  end
  redis.call('ZADD', KEYS[1], unpack(ranked))
  -- the due members are the lowest-ranked ones, exactly those just read
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, #due / 2 - 1)
end
local publish = ARGV[9] == '1' and redis.call('PUBSUB', 'NUMSUB', KEYS[5])[2] > 0
local function started(id, job)
  return cjson.encode({worker = worker, started_ms = now, try = job.t, task = job.f}),
         cjson.encode({event = 'started', job_id = id, task = job.f, queue = queue,
                       at = now / 1000, try = job.t, priority = job.p, owner_id = job.u,
                       worker = worker})
end
local function failed(id, reason)
  return cjson.encode({event = 'failure', job_id = id, task = 'unknown', queue = queue,
                       at = now / 1000, try = 1, priority = 1, worker = worker, error = reason})
end
local popped = redis.call('ZPOPMIN', KEYS[1], tonumber(ARGV[6]))
local claimed, failures = {}, {}
if #popped > 0 then
  local job_keys = {}
  for i = 1, #popped, 2 do job_keys[#job_keys + 1] = JOB .. popped[i] end
  local payloads = redis.call('MGET', unpack(job_keys))
  local stops = redis.call('HLEN', KEYS[6]) > 0
  local entries, new_events, unusable = {}, {}, {}
  for i = 1, #payloads do
    local id, payload = popped[2 * i - 1], payloads[i]
    local job, why = nil, 'definition expired: it waited past its expiry before a worker took it'
    if payload then job, why = read_definition(payload) end
    if not job then
      new_events[#new_events + 1] = failed(id, why)
      failures[#failures + 1] = id
      failures[#failures + 1] = why
      if payload then unusable[#unusable + 1] = JOB .. id end
    elseif stops and redis.call('HDEL', KEYS[6], id) == 1 then
      record_cancelled(id, job, queue, now, 'cancelled by an admin', ARGV[10], KEYS[4], KEYS[5], KEYS[7])
    else
      local entry, event = started(id, job)
      entries[#entries + 1] = id
      entries[#entries + 1] = entry
      new_events[#new_events + 1] = event
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = payload
      claimed[#claimed + 1] = entry
    end
  end
  if #entries > 0 then redis.call('HSET', KEYS[3], unpack(entries)) end
  if #unusable > 0 then redis.call('DEL', unpack(unusable)) end
  if #new_events > 0 then
    local all = table.concat(new_events, '\\n')
    redis.call('XADD', KEYS[4], '*', 'e', all)
    if publish then redis.call('PUBLISH', KEYS[5], all) end
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {claimed, first[2] or false, failures}
""".replace("CLAIM_MAX", str(CLAIM_MAX))
)

# Finish the jobs a worker finished while its last write was in flight (at most FINISH_MAX), each
# only while its running entry is still the one its claim wrote (fencing): a worker that stalled
# past its heartbeat has had the job released and perhaps run again by another worker, and its late
# outcome must change nothing of the new try. For the jobs still its own: results stored, events
# written as one stream entry (one JSON per line, published live if anyone listens), definitions
# dropped in one DEL, running entries in one HDEL per queue, stop requests dropped.
# KEYS: events, live, events-enabled, stop requests
# ARGV: prefixes, result expiry ms, live, then per job: job id, its running hash, its running entry
#       as claimed, its result, its event
# Returns the ids of the stale jobs (nothing written for them).
FINISH = LuaScript(
    PREFIXES_LUA
    + """
local hashes, per_hash = {}, {}
for i = 6, #ARGV, 5 do
  local hash = ARGV[i + 1]
  if not per_hash[hash] then per_hash[hash] = {}; hashes[#hashes + 1] = hash end
  table.insert(per_hash[hash], i)
end
local current = {}
for _, hash in ipairs(hashes) do
  local ids = {}
  for n, i in ipairs(per_hash[hash]) do ids[n] = ARGV[i] end
  current[hash] = redis.call('HMGET', hash, unpack(ids))
end
local fresh_events, definitions, fresh_ids, stale = {}, {}, {}, {}
for _, hash in ipairs(hashes) do
  local mine = {}
  for n, i in ipairs(per_hash[hash]) do
    local id = ARGV[i]
    if current[hash][n] == ARGV[i + 2] then
      redis.call('SET', RESULT .. id, ARGV[i + 3], 'PX', ARGV[4])
      mine[#mine + 1] = id
      fresh_ids[#fresh_ids + 1] = id
      definitions[#definitions + 1] = JOB .. id
      fresh_events[#fresh_events + 1] = ARGV[i + 4]
    else
      stale[#stale + 1] = id
    end
  end
  if #mine > 0 then redis.call('HDEL', hash, unpack(mine)) end
end
if #fresh_ids > 0 then
  redis.call('DEL', unpack(definitions))
  if redis.call('HLEN', KEYS[4]) > 0 then redis.call('HDEL', KEYS[4], unpack(fresh_ids)) end
  local all = table.concat(fresh_events, '\\n')
  redis.call('XADD', KEYS[1], '*', 'e', all)
  if ARGV[5] == '1' and redis.call('GET', KEYS[3]) ~= '0'
      and redis.call('PUBSUB', 'NUMSUB', KEYS[2])[2] > 0 then
    redis.call('PUBLISH', KEYS[2], all)
  end
end
return stale
"""
)

# Put a running job back one try further (a retry later, or a hand-back at shutdown), only while its
# running entry is still the one its claim wrote (fencing, as for FINISH).
# KEYS: running, job, ready or deferred, wake, events, live, events-enabled
# ARGV: job id, its running entry as claimed, new definition, definition expiry ms, member, score,
#       event, live
# Returns 1 put back, 0 stale (nothing written).
PUT_BACK = LuaScript(
    """#!lua
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, WAKE_MAX)
redis.call('XADD', KEYS[5], '*', 'e', ARGV[7])
if ARGV[8] == '1' and redis.call('GET', KEYS[7]) ~= '0' then redis.call('PUBLISH', KEYS[6], ARGV[7]) end
return 1
""".replace("WAKE_MAX", str(WAKE_TOKENS_MAX - 1))
)
