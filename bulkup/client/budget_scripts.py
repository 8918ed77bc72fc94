"""The Lua scripts of the shared budgets (:mod:`bulkup.client.shared_budget`), run
atomically on the Redis or Valkey server.

Each budget window is a hash (``limit``, ``remaining``, ``reset`` in Unix seconds of the
server's clock, ``announced`` 1 once an answer's headers gave it, ``turned``: the reset
of the announced window that turned over last, ``held_until``/``held_by``: a
``Retry-After``) beside a sorted set of leases (member ``process:seq``, score the
lease's expiry). ``remaining`` counts the requests settled; the leases are the requests
in flight. Both scripts take a request's windows as KEYS in pairs (hash, leases): the
account's 15-minute window of the endpoint, the app's 24-hour window, the account's
24-hour window; a request needs room in every one of them.

:data:`RESERVE` (ARGV: lease member, lease seconds, fraction, slack, then for each
window its assumed limit, '' for none, and its length in seconds) reads the server's
clock (``TIME``), drops lapsed leases, turns over a window whose reset has passed (an
announced one ``slack`` seconds after it: the next is assumed to hold the same limit,
from its first request; a window no answer announced yet takes the lowest limit assumed
by any process), and grants a lease in every window if each has room:
``remaining`` less what ``fraction`` leaves to other clients, less the leases. It
answers ``{1, room}`` (the room left after this lease, -1 none known) or
``{0, wait, window, capped}``: seconds until the window that holds the request back
resets (or, when requests in flight hold its last places, until the first of their
leases lapses), that window's number (1–3, 0 for a ``Retry-After``), and 1 when it is
an announced limit (a wait past ``--max-wait`` is then a cap), 0 when only assumed.

:data:`SETTLE` (ARGV: lease member, 1 if the request went (0 gives the place back),
``Retry-After``'s time or '', what holds it, the channel told of budget given back,
then for each window the answer's limit, remaining and reset, or '' '' '') removes the
lease and corrects each window: a newer window takes the answer's word; the same
window, or one only assumed so far, the lower of its count and the answer's (answers
arrive out of order, and each answer's count includes its own request); an older
window's answer changes nothing (that request counted there); with no word, a request
that went counts one. When a window had no place that no lease held, the channel is
told: requests of other processes waiting for the places that requests in flight held
ask again, whether a place is now free or the answer spent the window (they then wait
for its reset, not for the leases to lapse). Numbers are answered as strings: Lua's would
be cut to integers.
"""

from __future__ import annotations

from typing import Final

__all__ = ["RESERVE", "SETTLE"]

_CLOCK: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

RESERVE: Final = (
    _CLOCK
    + """
local member, lease = ARGV[1], tonumber(ARGV[2])
local fraction, slack = tonumber(ARGV[3]), tonumber(ARGV[4])
local wait, why, capped, room = 0, 0, 0, -1
local function open(h, limit, remaining, reset, announced, turned, assumed)
  if reset and now >= reset + (announced and slack or 0) then
    if announced then
      redis.call('HSET', h, 'turned', reset)
      turned = reset
    end
    remaining, reset, announced = limit, nil, false
    redis.call('HDEL', h, 'reset')
    if limit then redis.call('HSET', h, 'remaining', limit, 'announced', 0) end
  end
  if not announced and not turned and assumed and (not limit or assumed < limit) then
    remaining = (remaining or assumed) - ((limit or assumed) - assumed)
    limit = assumed
    redis.call('HSET', h, 'limit', limit, 'remaining', remaining, 'announced', 0)
  end
  return limit, remaining, reset, announced
end
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local f = redis.call('HMGET', h, 'limit', 'remaining', 'reset', 'announced', 'held_until',
    'turned')
  local limit, remaining, reset, announced = open(h, tonumber(f[1]), tonumber(f[2]),
    tonumber(f[3]), f[4] == '1', f[6], tonumber(ARGV[3 + 2 * i]))
  local held = tonumber(f[5])
  if held and held + slack - now > wait then
    wait, why, capped = held + slack - now, 0, 1
  end
  if limit then
    local usable = remaining - (limit - math.max(math.floor(limit * fraction), 1))
    local free = usable - redis.call('ZCARD', z)
    local ends = reset and (reset + (announced and slack or 0) - now)
      or tonumber(ARGV[4 + 2 * i])
    if free <= 0 then
      local w, c = ends, announced and 1 or 0
      if usable > 0 then
        local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
        w, c = math.min(tonumber(first[2]) - now, ends), 0
      end
      if w > wait then wait, why, capped = w, i, c end
    end
    if room < 0 or free - 1 < room then room = free - 1 end
  end
end
if wait > 0 then
  return {0, tostring(wait), tostring(why), tostring(capped)}
end
for i = 1, #KEYS / 2 do
  local h, z, length = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[4 + 2 * i])
  redis.call('ZADD', z, now + lease, member)
  if redis.call('HEXISTS', h, 'limit') == 1 and redis.call('HEXISTS', h, 'reset') == 0 then
    redis.call('HSET', h, 'reset', now + length)
  end
  local keep = math.ceil(2 * length + lease + 60)
  redis.call('EXPIRE', h, keep)
  redis.call('EXPIRE', z, keep)
end
return {1, tostring(room)}
"""
)

SETTLE: Final = """
local member, counted = ARGV[1], ARGV[2] == '1'
local hold, held_by, channel = tonumber(ARGV[3]), ARGV[4], ARGV[5]
local full, room = false, true
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local lx, rx, tx = tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i]),
    tonumber(ARGV[5 + 3 * i])
  local f = redis.call('HMGET', h, 'remaining', 'reset', 'announced', 'turned')
  local remaining, reset, turned = tonumber(f[1]), tonumber(f[2]), tonumber(f[4])
  if remaining and remaining - redis.call('ZCARD', z) <= 0 then full = true end
  redis.call('ZREM', z, member)
  local announced = f[3] == '1'
  if tx and lx and rx and not (turned and tx <= turned) then
    if not announced or not reset or tx > reset then
      local left = rx
      if not announced and remaining then left = math.min(rx, remaining) end
      if announced and reset then redis.call('HSET', h, 'turned', reset) end
      redis.call('HSET', h, 'limit', lx, 'remaining', left, 'reset', tx, 'announced', 1)
    elseif tx == reset then
      redis.call('HSET', h, 'limit', lx, 'remaining', math.min(rx, remaining))
    end
  elseif not tx and remaining and counted then
    redis.call('HSET', h, 'remaining', math.max(remaining - 1, 0))
  end
  local left = tonumber(redis.call('HGET', h, 'remaining'))
  if left and left - redis.call('ZCARD', z) <= 0 then room = false end
  if hold and i == 1 then
    local held = tonumber(redis.call('HGET', h, 'held_until'))
    if not held or hold > held then
      redis.call('HSET', h, 'held_until', hold, 'held_by', held_by)
    end
  end
end
if full then redis.call('PUBLISH', channel, 'freed') end
return 1
"""
