"""The birth rule (``_redisscript.BIRTH_LUA``) on the real Redis's Lua interpreter: a new state
may grant at once only when the server vouches that it lost nothing since it started."""

from __future__ import annotations

import redis.asyncio

from batchpoll._redisscript import BIRTH_LUA

CALL = BIRTH_LUA + "return string.format('%.3f', birth_open(100.0, 2.65, ARGV[1]))"
UP = "uptime_in_seconds:{up}\r\nevicted_keys:{evicted}\r\n"


async def _open(url: str, info: str) -> float:
    r = redis.asyncio.Redis.from_url(url)
    try:
        return float(await r.eval(CALL, 0, info))
    finally:
        await r.aclose()


async def test_a_server_up_a_while_that_lost_nothing_grants_a_new_state_at_once(
    redis_url: str,
) -> None:
    assert await _open(redis_url, UP.format(up=3600, evicted=0)) == 100.0
    # Whole seconds, truncated at both ends: the start is at most 1 s after now - uptime.
    assert await _open(redis_url, UP.format(up=3, evicted=0)) == 100.65
    assert await _open(redis_url, UP.format(up=2, evicted=0)) == 101.65
    # Never longer than knowing nothing: 0 or 1 s up is the whole wait.
    assert await _open(redis_url, UP.format(up=1, evicted=0)) == 102.65
    assert await _open(redis_url, UP.format(up=0, evicted=0)) == 102.65


async def test_any_sign_of_lost_keys_waits_the_whole_pause(redis_url: str) -> None:
    long_up = UP.format(up=3600, evicted=0)
    assert await _open(redis_url, UP.format(up=3600, evicted=1)) == 102.65
    for cmd in ("flushall", "flushdb", "swapdb", "debug"):
        info = long_up + f"cmdstat_{cmd}:calls=1,usec=5\r\n"
        assert await _open(redis_url, info) == 102.65, cmd
    assert await _open(redis_url, "evicted_keys:0\r\n") == 102.65  # no uptime: no vouching
    assert await _open(redis_url, "uptime_in_seconds:3600\r\n") == 102.65  # nor without stats


async def test_the_server_is_asked_when_no_text_is_given(redis_url: str) -> None:
    # The shared test server's own INFO: whichever way it vouches, the rule says the same.
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        server, stats = await r.info("server"), await r.info("stats")
        commands = await r.info("commandstats")
        opened = float(
            await r.eval(BIRTH_LUA + "return string.format('%.3f', birth_open(100.0, 2.65))", 0)
        )
    finally:
        await r.aclose()
    lost = int(stats["evicted_keys"]) > 0 or any(
        f"cmdstat_{c}" in commands for c in ("flushall", "flushdb", "swapdb", "debug")
    )
    up = int(server["uptime_in_seconds"])
    assert opened == (102.65 if lost else min(102.65, max(100.0, 100.0 - up + 1 + 2.65)))
