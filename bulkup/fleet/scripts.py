"""The queue's Lua scripts: every change of a job or an item is one atomic step on the
server, on the server's clock (``TIME``).

Every write a worker makes for an item it holds is *fenced*: it first checks that the
item's ``gen`` is still the one its claim got and that the item is running, and returns
0 (``LOST``) otherwise, changing nothing. Keys are built inside the scripts from the
deployment's prefix and the job's name (all of them share the prefix's hash tag).
"""

from __future__ import annotations

from typing import Final

# ARGV[1] is always the prefix (``bulkup:{NAME}:``), ARGV[2] the job.
_COMMON: Final = r"""
local P, J = ARGV[1], ARGV[2]
local JOB = P .. 'job:' .. J
local Q, COUNTS, IDS = JOB .. ':q', JOB .. ':counts', JOB .. ':ids'
local RESULTS = JOB .. ':results'
local function item_key(id) return JOB .. ':item:' .. id end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local FINAL = {succeeded = true, failed = true, skipped = true}
local function item_keys(id)
  local k = item_key(id)
  return {k, k .. ':segs', k .. ':hashes'}
end
local function each_job_key(fn)
  for _, k in ipairs({JOB, Q, COUNTS, IDS, RESULTS}) do fn(k) end
  for _, id in ipairs(redis.call('SMEMBERS', IDS)) do
    for _, k in ipairs(item_keys(id)) do fn(k) end
  end
end
-- The job's last item ended: the job is finished, and every key of it expires.
local function maybe_done(t)
  local c = redis.call('HMGET', COUNTS, 'pending', 'running')
  if (tonumber(c[1]) or 0) + (tonumber(c[2]) or 0) > 0 then return end
  if redis.call('HGET', JOB, 'state') == 'finished' then return end
  redis.call('HSET', JOB, 'state', 'finished', 'finished_at', tostring(t))
  local keep = tonumber(redis.call('HGET', JOB, 'keep')) or 604800
  each_job_key(function(k) redis.call('EXPIRE', k, math.max(1, math.floor(keep))) end)
end
local function ensure_job(t, keep, endpoint)
  if redis.call('EXISTS', JOB) == 0 then
    redis.call('HSET', JOB, 'created', tostring(t), 'submitted', 0, 'keep', keep,
      'state', 'active', 'endpoint', endpoint)
  elseif redis.call('HGET', JOB, 'state') == 'finished' then
    redis.call('HSET', JOB, 'state', 'active', 'keep', keep)
    redis.call('HDEL', JOB, 'finished_at')
    each_job_key(function(k) redis.call('PERSIST', k) end)
  end
  if redis.call('EXISTS', Q) == 0 then
    redis.call('XGROUP', 'CREATE', Q, 'workers', '0', 'MKSTREAM')
  end
  redis.call('ZADD', P .. 'jobs', t, J)
end
local function fenced(k, gen)
  local f = redis.call('HMGET', k, 'gen', 'state')
  return f[1] == gen and f[2] == 'running'
end
"""

#: ARGV: prefix, job, id, spec, file key, keep, endpoint, account, size.
#: Returns ``new``, ``unchanged``, ``replaced`` or ``conflict:STATE``.
SUBMIT: Final = (
    _COMMON
    + r"""
local id, spec, file = ARGV[3], ARGV[4], ARGV[5]
local t = now()
ensure_job(t, ARGV[6], ARGV[7])
local k = item_key(id)
local f = redis.call('HMGET', k, 'file', 'state', 'entry')
if f[2] and f[1] == file then return 'unchanged' end
if f[2] and f[2] ~= 'pending' then return 'conflict:' .. f[2] end
redis.call('HSET', k, 'spec', spec, 'file', file, 'state', 'pending', 'account', ARGV[8],
  'size', ARGV[9], 'acked_bytes', 0, 'updated', tostring(t))
if f[2] then
  redis.call('HDEL', k, 'record', 'media_id', 'deadline')
  redis.call('DEL', k .. ':segs', k .. ':hashes')
  redis.call('HINCRBY', k, 'gen', 1)
  return 'replaced'
end
redis.call('HSET', k, 'gen', 0)
local entry = redis.call('XADD', Q, '*', 'id', id)
redis.call('HSET', k, 'entry', entry)
redis.call('SADD', IDS, id)
redis.call('HINCRBY', COUNTS, 'pending', 1)
redis.call('HINCRBY', JOB, 'submitted', 1)
return 'new'
"""
)

#: A source problem, recorded as the item's result at once.
#: ARGV: prefix, job, id, result line, status, keep, endpoint.
#: Returns ``new``, ``unchanged`` or ``conflict:STATE``.
PROBLEM: Final = (
    _COMMON
    + r"""
local id, line, status = ARGV[3], ARGV[4], ARGV[5]
local t = now()
ensure_job(t, ARGV[6], ARGV[7])
local k = item_key(id)
local f = redis.call('HMGET', k, 'state', 'result')
if f[1] then
  if FINAL[f[1]] and f[2] == line then return 'unchanged' end
  return 'conflict:' .. f[1]
end
redis.call('HSET', k, 'state', status, 'result', line, 'gen', 0, 'updated', tostring(t))
redis.call('SADD', IDS, id)
redis.call('XADD', RESULTS, '*', 'id', id, 'line', line)
redis.call('HINCRBY', COUNTS, status, 1)
redis.call('HINCRBY', JOB, 'submitted', 1)
maybe_done(t)
return 'new'
"""
)

#: Take items: first entries idle longer than claim_after (a worker that died), then
#: new ones. ARGV: prefix, job, worker, count, claim_after ms, lease s.
#: Returns ``{id, gen, spec, record, acked indices, hashes (flat)}`` per item taken.
CLAIM: Final = (
    _COMMON
    + r"""
local worker, count, idle, lease = ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
if redis.call('EXISTS', Q) == 0 then return {} end
local t = now()
local taken = {}
local function bits(s)
  local out = {}
  if not s then return out end
  for i = 1, #s do
    local b = string.byte(s, i)
    for j = 0, 7 do
      if bit.band(b, bit.lshift(1, 7 - j)) ~= 0 then out[#out + 1] = (i - 1) * 8 + j end
    end
  end
  return out
end
local function take(entry)
  local eid, fields = entry[1], entry[2]
  local id = fields and fields[2]
  local k = id and item_key(id)
  local f = k and redis.call('HMGET', k, 'state', 'entry', 'spec', 'record')
  if not f or not f[1] or FINAL[f[1]] or f[2] ~= eid then
    redis.call('XACK', Q, 'workers', eid)  -- an entry no item waits for any more
    redis.call('XDEL', Q, eid)
    return
  end
  local gen = redis.call('HINCRBY', k, 'gen', 1)
  if f[1] == 'pending' then
    redis.call('HINCRBY', COUNTS, 'pending', -1)
    redis.call('HINCRBY', COUNTS, 'running', 1)
  end
  redis.call('HSET', k, 'state', 'running', 'owner', worker,
    'lease_until', tostring(t + lease), 'updated', tostring(t))
  taken[#taken + 1] = {id, tostring(gen), f[3], f[4] or '', bits(redis.call('GET', k .. ':segs')),
    redis.call('HGETALL', k .. ':hashes')}
end
local stale = redis.call('XAUTOCLAIM', Q, 'workers', worker, idle, '0-0', 'COUNT', count)
for _, entry in ipairs(stale[2]) do take(entry) end
if #taken < count then
  local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', worker,
    'COUNT', count - #taken, 'STREAMS', Q, '>')
  if fresh then
    for _, entry in ipairs(fresh[1][2]) do take(entry) end
  end
end
if #taken > 0 then redis.call('ZADD', P .. 'jobs', t, J) end
return taken
"""
)

#: Heartbeat: renew the leases of held items. ARGV: prefix, job, worker, lease s,
#: then id, gen pairs. Returns the ids whose lease was lost.
RENEW: Final = (
    _COMMON
    + r"""
local worker, lease = ARGV[3], tonumber(ARGV[4])
local t = now()
local lost = {}
for i = 5, #ARGV, 2 do
  local id, gen = ARGV[i], ARGV[i + 1]
  local k = item_key(id)
  if fenced(k, gen) and redis.call('HGET', k, 'owner') == worker then
    redis.call('HSET', k, 'lease_until', tostring(t + lease))
    redis.call('XCLAIM', Q, 'workers', worker, 0, redis.call('HGET', k, 'entry'), 'JUSTID')
  else
    lost[#lost + 1] = id
  end
end
return lost
"""
)

#: The item's record (INIT's answer, later changes). ARGV: prefix, job, id, gen, record
#: JSON, media id, deadline, fresh (``1``: a new upload session, whose acknowledged
#: segments start empty). Returns 1, or 0 (LOST).
SAVE: Final = (
    _COMMON
    + r"""
local k = item_key(ARGV[3])
if not fenced(k, ARGV[4]) then return 0 end
if ARGV[8] == '1' then
  redis.call('DEL', k .. ':segs', k .. ':hashes')
  redis.call('HSET', k, 'acked_bytes', 0)
end
redis.call('HSET', k, 'record', ARGV[5], 'media_id', ARGV[6], 'deadline', ARGV[7],
  'updated', tostring(now()))
return 1
"""
)

#: One acknowledged segment. ARGV: prefix, job, id, gen, index, sha256, length.
ACK: Final = (
    _COMMON
    + r"""
local k = item_key(ARGV[3])
if not fenced(k, ARGV[4]) then return 0 end
if redis.call('SETBIT', k .. ':segs', ARGV[5], 1) == 0 then
  redis.call('HINCRBY', k, 'acked_bytes', ARGV[7])
end
if ARGV[6] ~= '' then redis.call('HSET', k .. ':hashes', ARGV[5], ARGV[6]) end
return 1
"""
)

#: The item's result, once. ARGV: prefix, job, id, gen, line, status, bytes.
FINISH: Final = (
    _COMMON
    + r"""
local id, status = ARGV[3], ARGV[6]
local k = item_key(id)
if not fenced(k, ARGV[4]) then return 0 end
local t = now()
redis.call('HSET', k, 'state', status, 'result', ARGV[5], 'updated', tostring(t))
redis.call('HDEL', k, 'owner', 'lease_until')
local entry = redis.call('HGET', k, 'entry')
redis.call('XACK', Q, 'workers', entry)
redis.call('XDEL', Q, entry)
redis.call('XADD', RESULTS, '*', 'id', id, 'line', ARGV[5])
redis.call('HINCRBY', COUNTS, 'running', -1)
redis.call('HINCRBY', COUNTS, status, 1)
redis.call('HINCRBY', COUNTS, 'bytes', ARGV[7])
redis.call('ZADD', P .. 'jobs', t, J)
maybe_done(t)
return 1
"""
)

#: Hand a held item back (a worker stopping): at once takeable by another, and the
#: hand's own late writes refused. ARGV: prefix, job, id, gen.
RELEASE: Final = (
    _COMMON
    + r"""
local k = item_key(ARGV[3])
if not fenced(k, ARGV[4]) then return 0 end
redis.call('HINCRBY', k, 'gen', 1)
redis.call('HSET', k, 'state', 'pending', 'updated', tostring(now()))
redis.call('HDEL', k, 'owner', 'lease_until')
local old = redis.call('HGET', k, 'entry')
redis.call('XACK', Q, 'workers', old)
redis.call('XDEL', Q, old)
redis.call('HSET', k, 'entry', redis.call('XADD', Q, '*', 'id', ARGV[3]))
redis.call('HINCRBY', COUNTS, 'running', -1)
redis.call('HINCRBY', COUNTS, 'pending', 1)
return 1
"""
)

ALL: Final = {
    "submit": SUBMIT,
    "problem": PROBLEM,
    "claim": CLAIM,
    "renew": RENEW,
    "save": SAVE,
    "ack": ACK,
    "finish": FINISH,
    "release": RELEASE,
}
