"""The Lua side of ``RedisBudget``: every grant is one script run on the Redis server's clock.

Keys (one hash tag, so a cluster keeps them on one shard), under ``PREFIX:{NAME}:``:

- ``occ``: sorted set of leases. A lease is one granted request: member ``SEQ:START`` (START
  is the server time from which it may be sent), score END, the time until which it occupies
  the window: ``START + D + 1`` while open, ``min(reply, START + D) + 1`` once released.
- ``state``: hash: ``seq``, ``last`` (latest START handed out), ``rate`` (per second in use,
  after 429 cuts), ``changed`` (last rate change), ``paused`` (no START before it), ``limit``
  (the rpm learned from headers), ``open`` (no START before it: set when the state is born).
- ``want``: hash: process id -> ``URGENT ALL EXPIRES``: the submits/cancels (and all requests)
  a process asked for and did not get: other processes' creates give way to the first, and
  a refused process spreads its retry over the others that wait.

**The window.** Starts are handed out in increasing order, so when a lease starting at ``s``
is booked every other lease started at or before ``s``; ends only ever move earlier. Then
"fewer than cap leases occupy the instant ``s``" (``#{END > s} < cap``) keeps every later
instant under the cap too, and the script books ``s`` = the earliest such instant no earlier
than now, the previous start plus ``1 / rate``, the pause and ``open``. A request the server
counts at ``c`` in ``[START, min(reply, START + D)]`` occupies ``[START, END)`` with
``END >= c + 1``: if ``cap + 1`` were counted within one 1 s window ``(t - 1, t]``, all of them
would occupy the instant of the latest start, which the booking forbids.

**Birth.** When ``state`` is missing (first use, expiry after a day idle, a Redis restart that
lost its data) leases a lost state granted may be forgotten: each started at most
``R = max(H, far)`` after the script run that booked it and ended ``D + 1`` after its start,
so no lease may start before ``L + R + D + 1``, ``L`` the last moment a lost state could have
granted anything. Without more knowledge ``L = now``. But when the server can vouch that it
lost nothing since it started (``INFO``: no key evicted, no ``FLUSHALL``, ``FLUSHDB``,
``SWAPDB`` or ``DEBUG`` run), a state missing now was never there since the start, or expired
idle (a day without a script run, long after its leases ended): then ``L`` is the server's
start, at the latest ``now - uptime + 1`` (``INFO`` counts whole seconds of the server's
cached clock, truncated at both ends), and never later than ``now``. A new
budget on a Redis that has been up a while grants at once; one on a Redis just restarted
waits out what the old one may have granted, as before. Not covered: keys deleted one by one
by hand, ``CONFIG RESETSTAT`` after a flush, and a failover to a replica that had not yet
received the last grants (which no birth rule can see).
"""

from __future__ import annotations

__all__ = ["BIRTH_LUA", "GRANT_LUA"]

# ``birth_open(now, wait_s)``: the earliest start for a state born at server time ``now``
# (``wait_s`` = R + D + 1), by the rule of the module docstring. ``info`` is optional (tests
# give their own text); else the server's own INFO sections are read (a birth only: rare).
BIRTH_LUA = r"""
local function birth_open(now, wait_s, info)
  if not info then
    local parts = {}
    for _, section in ipairs({'server', 'stats', 'commandstats'}) do
      local text = redis.pcall('INFO', section)
      if type(text) ~= 'string' then return now + wait_s end
      parts[#parts + 1] = text
    end
    info = table.concat(parts, '\n')
  end
  local up = tonumber(string.match(info, 'uptime_in_seconds:(%d+)'))
  local evicted = tonumber(string.match(info, 'evicted_keys:(%d+)'))
  if (not up) or evicted ~= 0 then return now + wait_s end
  for _, cmd in ipairs({'flushall', 'flushdb', 'swapdb', 'debug'}) do
    if string.find(info, 'cmdstat_' .. cmd .. ':', 1, true) then return now + wait_s end
  end
  -- INFO's uptime is whole seconds of a clock cached by the server, both ends truncated:
  -- the start is at most 1 s after now - uptime. Never longer than knowing nothing.
  return math.min(now + wait_s, math.max(now, now - up + 1 + wait_s))
end
"""

# ARGV: 1 op ("grant" | "throttle" | "limit" | "flush"), 2 process id,
# 3 rpm (configured), 4 headroom, 5 D (max send delay, s), 6 horizon (s), 7 create horizon (s),
# 8 cut factor, 9 floor fraction, 10 recover step, 11 recover every (s), 12 state ttl (s),
# 13 op value (grant: max leases; throttle: pause s or -1; limit: learned rpm or -1),
# 14 op value 2 (grant: urgent wanted; limit: pause s or -1), 15 checks wanted, 16 creates wanted,
# 17 far reach (s; negative unless this process holds no booking: then up to two submits or
# checks may be booked that far ahead rather than refused, a refusal costing a round trip of
# its own; its absolute value bounds every booking, for the birth pause and the expiry),
# 18 number of releases R, then R pairs (member, reply time bound in server seconds).
# Reply: {now, wait, cap, rate, limit, paused, rivals, member...} (rivals: other processes
# with demand not booked); numbers as strings (Lua numbers
# would be truncated to integers on the way out).
GRANT_LUA = (
    BIRTH_LUA
    + r"""
local occ, st, want = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local op, pid = ARGV[1], ARGV[2]
local rpm, headroom, D = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local H, HC = tonumber(ARGV[6]), tonumber(ARGV[7])
local cut, floorf = tonumber(ARGV[8]), tonumber(ARGV[9])
local step, every, ttl = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local function f(x) return string.format('%.6f', x) end
-- the furthest any booking may reach: a lease forgotten by a Redis that lost its data
-- started at most this far after the last script run, and ended D + 1 s after that
local farv = tonumber(ARGV[17])
local reachmax = math.max(H, math.abs(farv))

local s = redis.call('HMGET', st, 'seq', 'last', 'rate', 'changed', 'paused', 'limit', 'open')
local last, rate, changed = tonumber(s[2]) or 0, tonumber(s[3]), tonumber(s[4]) or now
local paused, limit, open = tonumber(s[5]) or 0, tonumber(s[6]), tonumber(s[7]) or 0
if not s[1] then
  open = birth_open(now, reachmax + D + 1)
  redis.call('HSET', st, 'seq', 0, 'open', f(open))
end
local eff = rpm
if limit and limit > 0 and limit < eff then eff = limit end
local cap = math.max(1, math.floor(eff / 60 + 1e-9))
local target = eff * headroom / 60
if (not rate) or rate > target then rate = target; changed = now end

-- releases: an end only moves earlier
local nrel = tonumber(ARGV[18])
for i = 0, nrel - 1 do
  local m, bound = ARGV[19 + 2 * i], tonumber(ARGV[20 + 2 * i])
  local sc = redis.call('ZSCORE', occ, m)
  if sc then
    local start = tonumber(string.match(m, ':(.*)$'))
    local e = math.max(math.min(bound, now, start + D), start) + 1 + 2e-6
    if e < tonumber(sc) then redis.call('ZADD', occ, f(e), m) end
  end
end
redis.call('ZREMRANGEBYSCORE', occ, '-inf', f(now))

if op == 'throttle' then
  local pause = tonumber(ARGV[13])
  paused = math.max(paused, now + pause)
  rate = math.max(target * floorf, rate * cut)
  changed = now
elseif op == 'limit' then
  local lim, pause = tonumber(ARGV[13]), tonumber(ARGV[14])
  if lim > 0 then
    limit = lim
    redis.call('HSET', st, 'limit', f(lim))
    eff = rpm
    if lim < eff then eff = lim end
    cap = math.max(1, math.floor(eff / 60 + 1e-9))
    target = eff * headroom / 60
    if rate > target then rate = target; changed = now end
  end
  if pause > 0 then paused = math.max(paused, now + pause) end
elseif rate < target then
  local quiet = now - math.max(changed, paused)
  if quiet >= every then
    local n = math.floor(quiet / every)
    rate = math.min(target, rate + n * step * target)
    changed = math.max(changed, paused) + n * every
  end
end

local granted = {}
local wait = 0
local rivals = 0
if op == 'grant' then
  local maxn = tonumber(ARGV[13])
  local far = farv
  local wanted = {tonumber(ARGV[14]), tonumber(ARGV[15]), tonumber(ARGV[16])}
  local others = 0
  local w = redis.call('HGETALL', want)
  for i = 1, #w, 2 do
    local n, total, exp = string.match(w[i + 1], '^(%S+) (%S+) (%S+)$')
    if tonumber(exp) <= now then redis.call('HDEL', want, w[i])
    elseif w[i] ~= pid then
      others = others + tonumber(n)
      if tonumber(total) > 0 then rivals = rivals + 1 end
    end
  end
  local gap = 1 / rate
  local got = {0, 0, 0}
  for c = 1, 3 do
    local horizon = H
    if c == 3 then horizon = HC end
    while wanted[c] > got[c] and #granted < maxn do
      if c == 3 and others > 0 then wait = math.max(wait, 0.02); break end
      local x = math.max(now, paused, open)
      if last > 0 then x = math.max(x, last + gap) end
      local n = redis.call('ZCOUNT', occ, '(' .. f(x), '+inf')
      if n >= cap then
        local e = redis.call('ZRANGEBYSCORE', occ, '(' .. f(x), '+inf', 'LIMIT', n - cap, 1,
          'WITHSCORES')
        x = math.max(x, tonumber(e[2]))
      end
      local reach = horizon
      if c < 3 and #granted < 2 and far > reach then reach = far end
      if x > now + reach then wait = math.max(wait, x - now - horizon); break end
      local seq = redis.call('HINCRBY', st, 'seq', 1)
      local m = seq .. ':' .. f(x)
      redis.call('ZADD', occ, f(x + D + 1 + 2e-6), m)
      last = x
      got[c] = got[c] + 1
      granted[#granted + 1] = m
    end
  end
  local unmet = wanted[1] - got[1]
  local unmet_all = unmet + wanted[2] - got[2] + wanted[3] - got[3]
  if unmet_all > 0 then
    -- kept until this process asks again (after the wait it is told), plus a margin
    redis.call('HSET', want, pid, unmet .. ' ' .. unmet_all .. ' ' .. f(now + wait + 1.5))
  else
    redis.call('HDEL', want, pid)
  end
  redis.call('PEXPIRE', want, 5000)
end

redis.call('HSET', st, 'last', f(last), 'rate', f(rate), 'changed', f(changed),
  'paused', f(paused))
redis.call('EXPIRE', st, ttl)
redis.call('PEXPIRE', occ, math.ceil((reachmax + D + 2) * 1000))
local lim = -1
if limit then lim = limit end
local out = {f(now), f(wait), tostring(cap), f(rate), f(lim), f(paused), tostring(rivals)}
for i = 1, #granted do out[#out + 1] = granted[i] end
return out
"""
)
