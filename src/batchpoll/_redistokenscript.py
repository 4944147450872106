"""The Lua side of ``RedisTokens``: tokens per minute per model, one script run per reserve.

Keys, under ``PREFIX:{NAME}:tok:MODEL`` (the budget's hash tag, so a cluster keeps them on one
shard): ``...:w``, a sorted set of reservations (member ``SEQ:TOKENS``, score ``START + D``:
START is the server time of the reservation, D how late after it the API server may count
the request), and ``...:s``, a hash (``seq``; ``limit``, the tpm learned from headers;
``paused``, no reservation before it).

**The window.** A reservation at server time ``s`` is granted only if its tokens plus those of
every reservation with ``score > s - 60`` stay within the limit. Starts come in increasing order
(Redis ``TIME``), and a request is counted at some ``c`` in ``[START, START + D]``. If the
requests counted within one 60 s window ``(t - 60, t]`` added up to more than the limit, take
the one reserved last, at ``s``: every other one has ``score >= c > t - 60 >= s - 60``, so its
check counted them all, and refused. A refund (the request was never counted) removes the
member; a settled request keeps its charge (the server counts its estimate, not the usage).

**Birth.** A missing state (first use, a day idle, a Redis that lost its data) starts the
window as a local ``TokenBudget`` starts its bucket: ``initial_s`` worth of tokens free, the
rest coming back at ``tpm / 60`` per second (sixty placeholder members aging out). Like a
restarted local budget, it does not know what the minute before spent.
"""

from __future__ import annotations

__all__ = ["TOKENS_LUA"]

# KEYS: window, state. ARGV: 1 op ("reserve" | "refund" | "limit" | "throttle"),
# 2 configured tpm, 3 headroom, 4 D (s), 5 state ttl (s), 6 initial (s),
# reserve: 7 tokens; refund: 7 member; limit: 7 learned tpm or -1, 8 pause s or -1;
# throttle: 7 pause s.
# Reply: {now, wait, limit (in use), paused, member or ""}; numbers as strings.
TOKENS_LUA = r"""
local w, st = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local op = ARGV[1]
local tpm, headroom, D, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5])
local function f(x) return string.format('%.6f', x) end
local s = redis.call('HMGET', st, 'limit', 'paused', 'seq')
local limit, paused = tonumber(s[1]), tonumber(s[2]) or 0
if not s[3] then
  -- born (first use, or a Redis that lost its data): as a local TokenBudget starts, with
  -- INITIAL s worth of tokens, the rest coming back at tpm / 60 per second over the minute
  redis.call('HSET', st, 'seq', 0)
  local share = math.floor(tpm * headroom / 60)
  local initial = tonumber(ARGV[6])
  for k = 1, 60 - math.floor(initial) do
    redis.call('ZADD', w, f(now - 60 + k), 'b' .. k .. ':' .. share)
  end
end
redis.call('ZREMRANGEBYSCORE', w, '-inf', f(now - 60))
local wait, member = 0, ''
if op == 'refund' then
  redis.call('ZREM', w, ARGV[7])
elseif op == 'limit' then
  local lim, pause = tonumber(ARGV[7]), tonumber(ARGV[8])
  if lim > 0 then limit = lim; redis.call('HSET', st, 'limit', f(lim)) end
  if pause > 0 then paused = math.max(paused, now + pause) end
elseif op == 'throttle' then
  paused = math.max(paused, now + tonumber(ARGV[7]))
end
local eff = tpm
if limit and limit > 0 and limit < eff then eff = limit end
local cap = math.floor(eff * headroom + 1e-9)
if op == 'reserve' then
  local need = tonumber(ARGV[7])
  if now < paused then
    wait = paused - now
  else
    local used = 0
    local live = redis.call('ZRANGEBYSCORE', w, '(' .. f(now - 60), '+inf', 'WITHSCORES')
    for i = 1, #live, 2 do used = used + tonumber(string.match(live[i], ':(%d+)$')) end
    if used + need <= cap then
      local seq = redis.call('HINCRBY', st, 'seq', 1)
      member = seq .. ':' .. need
      redis.call('ZADD', w, f(now + D), member)
    else
      -- the earliest time enough of the window has aged out (at least a little)
      local free = cap - need
      wait = 0.05
      for i = 1, #live, 2 do
        used = used - tonumber(string.match(live[i], ':(%d+)$'))
        if used <= free then wait = math.max(wait, tonumber(live[i + 1]) + 60 - now); break end
      end
    end
  end
end
redis.call('HSET', st, 'paused', f(paused))
redis.call('EXPIRE', st, ttl)
redis.call('PEXPIRE', w, math.ceil((60 + D + 1) * 1000))
return {f(now), f(wait), f(eff), f(paused), member}
"""
