"""``RedisBudget``: one request budget shared by processes and hosts, through Redis.

The same interface as ``Budget`` (it is one: ``Poller(budget=...)`` takes either), with the
window, the pause, the rate and the learned limit kept in Redis and changed only by the Lua
script of ``_redisscript.py``, on the Redis server's clock. See docs/scale-out.md.

**Bookings.** One script run books up to ``max_batch`` leases for this process, each with the
server time from which it may be sent; the pump hands each to the most urgent local waiter
when its time comes (``Budget._pop_waiter``: the same classes and ``create_share`` as a local
budget). Releases (the reply is in) ride on the next script run, with an upper bound of the
server time they happened at, so a granted request costs at most one round trip.

**Server time here.** A reply says the server's time ``T`` at some instant between our send
and its arrival at local time ``r``, ``rtt`` after the send. So at local time ``x`` the server's
clock reads between ``T + x - r`` and ``T + x - r + rtt``: a lease starting at ``s`` is handed
out once ``T + x - r >= s`` and no later than when ``T + x - r + rtt`` reaches ``s + late_s``.

**Redis down.** No grants (held bookings are still spent, in time or not at all); the script is
retried with backoff, ``batchpoll.budget.redis_down`` says so once, ``.redis_back`` when it
answers again. A Redis that lost its data refuses grants for ``horizon + D + 1`` s.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import os
import random
import secrets
import socket
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ._budget import _MIN_WAIT_S, Budget, BudgetSettings, Priority, Ticket
from ._clock import Clock
from ._errors import ConfigurationError
from ._headers import parse_rate_limit_headers
from ._log import log
from ._redisscript import GRANT_LUA
from ._redissettings import _CLASS, _MAX_PENDING_RELEASES, RedisSettings, RedisTicket, connect
from ._redistokens import RedisTokens
from ._tokens import TokenSettings

__all__ = ["RedisBudget", "RedisSettings"]


class RedisBudget(Budget):
    """A ``Budget`` shared through Redis by every process that uses the same ``name``."""

    _PUMP_NAME = "redis"

    def __init__(
        self,
        url: str,
        *,
        name: str = "requests",
        rpm: float | None = None,
        tpm: float | TokenSettings | None = None,
        settings: BudgetSettings | None = None,
        redis: RedisSettings | None = None,
        client: Any = None,
        clock: Clock | None = None,
    ) -> None:
        """``clock``: where it reads time and waits (default: the running loop's). The
        shared state lives on the Redis server's clock whatever this one says: this one only
        times the local hand-out of bookings and the retries."""
        if settings is None:
            if rpm is None:
                raise ConfigurationError("give rpm= (the shared requests per minute) or settings=")
            settings = BudgetSettings(rpm)
        super().__init__(settings, name=name, clock=clock)
        self.redis_settings = rs = redis or RedisSettings()
        if client is None:
            client = connect(url, rs)
        self._redis = client
        self._script = client.register_script(GRANT_LUA)
        base = f"{rs.key_prefix}:{{{name}}}:"
        self.keys = (base + "occ", base + "state", base + "want")
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        s = self.settings
        self._lease_s = s.max_send_delay_s + rs.late_s  # D in the script
        self._fixed = [
            s.rpm, s.headroom, self._lease_s, rs.horizon_s, rs.create_horizon_s, s.cut_factor,
            s.floor_fraction, s.recover_step, s.recover_every_s, rs.state_ttl_s,
        ]  # fmt: skip
        self._held: list[tuple[float, str]] = []  # (local start, lease), a heap
        self._releases: list[str] = []  # lease, server-time bound, flattened
        self._flush_at = float("inf")
        self._next_call = 0.0
        self._contended = False  # the last booking run got fewer leases than it asked
        self._sync = (0.0, 0.0, 0.0)  # server time, local arrival, rtt of the last reply
        self._down_since: float | None = None
        self._backoff_s = rs.retry_min_s
        self._background: set[asyncio.Task[Any]] = set()
        self._limit_seen: float | None = None  # the learned limit as Redis last said it
        self.cap = self._quantum(s.rpm)
        self.round_trips = 0
        # Script runs by outcome: "booked" (leases), "refused" (asked, none), "flush" (only
        # releases), "shared" (a 429 or a limit told to the others).
        self.trips = {"booked": 0, "refused": 0, "flush": 0, "shared": 0}
        self.redis_errors = 0
        self.given_back = 0  # leases booked but not used in time
        # Tokens per minute per model, shared the same way (None: not shared); a Poller
        # given this budget and no tokens=/tpm= of its own charges its creates to it.
        self.tokens: RedisTokens | None = None if tpm is None else RedisTokens(self, tpm)
        self.leases = 0  # leases booked

    # --- public ---------------------------------------------------------------------------

    def try_acquire(self, priority: Priority = Priority.CHECK) -> Ticket | None:
        """A booking already held whose time has come, if nobody waits; else None (never the
        local bucket: every grant is Redis's)."""
        if any(self._waiting) or not self._held:
            return None
        now = self._clock.now()
        self._drop_stale(now)
        if not self._held or self._held[0][0] > now:
            return None
        _, lease = heapq.heappop(self._held)
        self._granted[priority] += 1
        self._wake()  # the pump books again when half the batch is spent
        return RedisTicket(self, lease, now)

    async def acquire(
        self,
        priority: Priority = Priority.CHECK,
        *,
        create_share: Callable[[], float] | None = None,
    ) -> Ticket:
        # Always through the queue: the pump hands each booked lease to the most urgent
        # waiter at its booked time.
        return await self._queued(priority, create_share)

    async def start(self) -> None:
        """One script run now, if none was made yet: a new state's birth pause begins, so a
        caller can spend it on its own setup rather than after its first request."""
        if self.round_trips == 0 and self._down_since is None:
            await self._call("flush")

    @property
    def down(self) -> bool:
        """Redis did not answer the last script run."""
        return self._down_since is not None

    def release(self, ticket: Ticket) -> None:
        """A ticket's reply is in (``Ticket.release`` calls this)."""
        ticket.open = False
        if isinstance(ticket, RedisTicket):
            self._give_back(ticket.lease, self._clock.now())

    def on_rate_limited(self, retry_after_s: float | None) -> None:
        now = self._clock.now()
        pause = retry_after_s if retry_after_s is not None else self.settings.default_pause_s
        self._rate_limited += 1
        self._paused_until = max(self._paused_until, now + pause)
        self._rate_per_s = max(
            self._target_per_s * self.settings.floor_fraction,
            self._rate_per_s * self.settings.cut_factor,
        )
        log.warning(
            "batchpoll.budget.throttled",
            budget=self.name,
            pause_s=round(pause, 3),
            rate_rpm=round(self._rate_per_s * 60, 1),
        )
        self._spawn(self._call("throttle", pause))
        self._wake()

    def on_headers(self, headers: Mapping[str, str]) -> None:
        info = parse_rate_limit_headers(headers)
        if info is None:
            return
        limit = info.limit_requests if info.limit_requests and info.limit_requests > 0 else None
        pause = -1.0
        if info.remaining_requests == 0 and info.reset_requests_s:
            pause = info.reset_requests_s
            if limit is not None:
                pause = min(pause, 60.0 / limit)
            now = self._clock.now()
            self._paused_until = max(self._paused_until, now + pause)
        new_limit = limit is not None and limit != self._limit_seen
        if new_limit or pause > 0:
            if limit is not None:
                self._limit_seen = float(limit)
            self._spawn(self._call("limit", float(limit or -1), pause))

    async def aclose(self) -> None:
        """Stop, give back the bookings not spent, flush the releases. Every step is bounded
        (``timeout_s``): a script run cut by the cancellation may leave redis-py's connection
        waiting, and closing must not wait for it."""
        background = list(self._background)
        for task in background:
            task.cancel()
        limit = self.redis_settings.timeout_s
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await asyncio.gather(*background, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await Budget.aclose(self)
        now = self._clock.now()
        for _, lease in self._held:
            self._give_back(lease, now)
        self._held.clear()
        if self._releases and self._down_since is None:
            with contextlib.suppress(Exception):
                await self._call("flush")
        with contextlib.suppress(Exception):
            async with asyncio.timeout(limit):
                await self._redis.aclose()

    # --- the pump -------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _server_upper(self, local: float) -> float:
        server, arrival, rtt = self._sync
        return server + (local - arrival) + rtt

    def _give_back(self, lease: str, local: float) -> None:
        if len(self._releases) < 2 * _MAX_PENDING_RELEASES:
            self._releases += (lease, f"{self._server_upper(local):.6f}")
        self._flush_at = min(self._flush_at, local + self.redis_settings.release_flush_s)
        self._wake()

    def _drop_stale(self, now: float) -> None:
        """Bookings that can no longer go out in time (or would land in a pause) go back."""
        late = self.redis_settings.late_s
        while self._held:
            start, lease = self._held[0]
            server_start = float(lease.partition(":")[2])
            in_time = self._server_upper(now) <= server_start + late
            if in_time and start >= self._paused_until:
                break
            heapq.heappop(self._held)
            self.given_back += 1
            self._give_back(lease, now)

    def _wanted(self) -> tuple[int, int, int]:
        """Waiters per class not covered by a held booking (most urgent covered first); the
        script books at most ``max_batch`` less those held, and counts the submits it could
        not book as this process's unmet demand (other processes' creates give way to it)."""
        cover = len(self._held)
        per = [0, 0, 0]
        for p in Priority:
            per[_CLASS[p]] += self._waiting[p]
        out = [0, 0, 0]
        for c in range(3):
            out[c] = per[c] - min(per[c], cover)
            cover -= min(per[c], cover)
        return out[0], out[1], out[2]

    async def _pump(self) -> None:
        assert self._wakeup is not None
        clock = self._clock
        while True:
            now = clock.now()
            self._drop_stale(now)
            urgent = self._most_urgent()
            if urgent is not None and self._held and self._held[0][0] <= now:
                _, lease = heapq.heappop(self._held)
                fut = self._pop_waiter()
                assert fut is not None
                fut.set_result(RedisTicket(self, lease, now))
                continue
            wake_at = self._held[0][0] if self._held else float("inf")
            need = self._wanted() if urgent is not None else (0, 0, 0)
            # Book again when half the batch is spent; releases wait for that run, or for
            # their flush deadline, and that run books too: every run asks for what this
            # process waits for (one round trip per grant at most, N processes or one).
            low = not self._held or (
                not self._contended and len(self._held) < self.redis_settings.max_batch // 2
            )
            asking = any(need) and low
            flushing = now >= self._flush_at
            if (asking or flushing) and now >= self._next_call:
                await self._call("grant", *need, asking=any(need))
                continue
            if asking:
                wake_at = min(wake_at, self._next_call)
            if self._releases:
                wake_at = min(wake_at, max(self._flush_at, self._next_call))
            self._wakeup.clear()
            timeout = None if wake_at == float("inf") else max(wake_at - now, _MIN_WAIT_S)
            await clock.wait(self._wakeup, timeout)

    async def _call(
        self,
        op: str,
        a: float = -1.0,
        b: float = -1.0,
        c: float = 0,
        d: float = 0,
        *,
        asking: bool = True,
    ) -> None:
        """One script run: ``op`` plus the pending releases; learns the shared state. Its
        timeout is the loop's (a socket's wait is real time, whatever the clock)."""
        clock = self._clock
        releases, self._releases = self._releases, []
        self._flush_at = float("inf")
        if op == "grant":
            room = self.redis_settings.max_batch - len(self._held) if asking else 0
            a, b, c, d = float(room), a, b, c
        far = self.redis_settings.far_horizon_s  # negative: bounds bookings, books none far
        far = far if op == "grant" and asking and not self._held else -far
        n = len(releases) // 2
        args = [op, self.process_id, *self._fixed, a, b, c, d, far, n, *releases]
        sent = clock.now()
        try:
            async with asyncio.timeout(self.redis_settings.timeout_s):
                reply = await self._script(keys=self.keys, args=args)
        except (asyncio.CancelledError, GeneratorExit):
            self._releases = releases + self._releases
            raise
        except Exception as exc:  # redis errors, OSError, timeouts: all mean "no answer"
            self._releases = (releases + self._releases)[-2 * _MAX_PENDING_RELEASES :]
            now = clock.now()
            if self._releases:
                self._flush_at = now
            self._failed(exc, now)
            return
        arrived = clock.now()
        self.round_trips += 1
        fields = [x.decode() if isinstance(x, bytes) else str(x) for x in reply]
        server = float(fields[0])
        self._sync = (server, arrived, arrived - sent)
        self._answered(arrived)
        self._learn(fields, server, arrived)
        if op != "grant":
            self.trips["shared"] += 1
        else:
            asked = a > 0
            self._contended = asked and len(fields) - 7 < a
            self.trips["booked" if len(fields) > 7 else "refused" if asked else "flush"] += 1
            self.leases += len(fields) - 7
            for lease in fields[7:]:
                start = float(lease.partition(":")[2])
                heapq.heappush(self._held, (start - server + arrived, lease))
            wait = float(fields[1])
            if wait > 0:  # refused (beyond the horizon, a pause, others' submits): retries
                # spread over the processes that wait, so that about one asks per free slot
                spread = (int(fields[6]) + 1) / max(self._rate_per_s, 1e-3)
                self._next_call = arrived + wait + random.uniform(0, spread)

    def _learn(self, fields: list[str], server: float, arrived: float) -> None:
        self.cap = int(fields[2])
        self._rate_per_s = float(fields[3])
        limit = float(fields[4])
        rpm = self.settings.rpm if limit <= 0 else min(self.settings.rpm, limit)
        target = rpm * self.settings.headroom / 60.0
        if limit > 0 and limit != self._limit_seen:
            self._limit_seen = limit
        if target < self._target_per_s - 1e-9:
            log.info("batchpoll.budget.limit_lowered", budget=self.name, rpm=rpm)
        elif target > self._target_per_s + 1e-9:
            log.info("batchpoll.budget.limit_raised", budget=self.name, rpm=rpm)
        self._target_per_s = target
        paused = float(fields[5]) - server + arrived
        self._paused_until = max(self._paused_until, paused)

    def _failed(self, exc: BaseException, now: float) -> None:
        self.redis_errors += 1
        if self._down_since is None:
            self._down_since = now
            self._backoff_s = self.redis_settings.retry_min_s
            log.warning(
                "batchpoll.budget.redis_down",
                budget=self.name,
                error=f"{type(exc).__name__}: {exc}",
                detail="no grants until Redis answers; retrying with backoff",
            )
        else:
            self._backoff_s = min(2 * self._backoff_s, self.redis_settings.retry_max_s)
        self._next_call = now + self._backoff_s * random.uniform(0.5, 1.0)

    def _answered(self, now: float) -> None:
        self._next_call = 0.0
        if self._down_since is not None:
            log.info(
                "batchpoll.budget.redis_back",
                budget=self.name,
                down_s=round(now - self._down_since, 3),
            )
            self._down_since = None
