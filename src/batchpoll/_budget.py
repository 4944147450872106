"""One shared request budget: a leaky bucket (``_leaky``) behind priority classes.

Every HTTP attempt batchpoll makes takes one token first. Waiters queue by priority class, and
one pump task (not a sleeping task per waiter) takes each token from the bucket as it becomes
available and hands it to the most urgent waiter *at that moment*. So a tool-output submit that
arrives while a hundred creates wait is served next, and creates only get the slots nothing
else wants.

Besides the drip rate, an ``ArrivalWindow`` (``_window.py``) keeps every 1 s window that the
server may see at or under its per-second quantum, whatever the delays between grant and server:
``acquire`` returns a ``Ticket`` that the caller releases when the reply is in.

A 429 is information: the whole budget pauses until the server's ``retry-after`` passes, the
rate drops, then climbs back gradually while no further 429 arrives.

Strict priority has one cost in bulk jobs: while any check is due, creates wait, so the last
items start late and a long job created last becomes the batch's tail. A create may bring a
``create_share`` rule when it queues (the poller's: whether its jobs in flight can spare
tokens now); while it is the first waiting create, waiting creates take that share of the
tokens that checks and fetches would get. The rule comes with the request, not from a setting
of the budget, so pollers sharing one budget each speak for their own creates. Submits and
cancels never wait for a create.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from ._clock import Clock, LoopClock
from ._errors import ConfigurationError
from ._headers import parse_rate_limit_headers
from ._leaky import LeakyBucket
from ._log import log
from ._window import ArrivalWindow, Ticket

__all__ = ["Budget", "BudgetSettings", "BudgetStats", "Priority", "Ticket"]


# Every wait of the pump lasts at least this long: a quantized virtual clock (as tests use) that
# rounds its time never reaches a timer set 1e-14 s ahead (the pump would spin on it), and
# treating such a remainder as "over" would grant early (a request a microsecond inside a
# server's second). A wait of one tick always moves time on.
_MIN_WAIT_S = 1e-6


class Priority(IntEnum):
    """Request classes, most urgent first."""

    SUBMIT = 0  # tool outputs: the run expires if we are late
    CANCEL = 1
    CHECK = 2
    FETCH = 3  # reply text of a finished job
    CREATE = 4  # new work waits until the jobs in flight are served


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """Rate settings. ``rpm`` is the limit the account has; the budget spends
    ``rpm × headroom`` spread evenly over each second (OpenAI quantizes per-minute limits to
    per-second ones, so a bucket that releases a whole minute's burst draws 429s), and never
    lets a server count more than ``floor(rpm / 60)`` of its requests within 1 s."""

    rpm: float
    burst: int = 1  # tokens that may leave back to back
    headroom: float = 1.0  # share of the limit to spend (leave some to other clients)
    # How late after its grant a request may reach the server. 0.5 s was passed on a loaded
    # 2-core client: 300 creates at once at 1,200 RPM drew one 429 (21 in a server second) in
    # every P1 run; 1.0 s, none, at the same makespan (1.11 x the bound, benchmarks/poller_bulk).
    max_send_delay_s: float = 1.0
    cut_factor: float = 0.85  # rate multiplier on each 429
    floor_fraction: float = 0.05  # never below this share of the target rate
    recover_step: float = 0.05  # share of the target regained ...
    recover_every_s: float = 2.0  # ... after each such quiet period without a 429
    default_pause_s: float = 1.0  # pause after a 429 that carries no retry-after

    def __post_init__(self) -> None:
        if self.rpm <= 0:
            raise ConfigurationError("rpm must be > 0")
        if self.burst < 1:
            raise ConfigurationError("burst must be >= 1")
        if not 0 < self.headroom <= 1:
            raise ConfigurationError("headroom must be in (0, 1]")
        if not 0 < self.cut_factor < 1:
            raise ConfigurationError("cut_factor must be in (0, 1)")
        if self.max_send_delay_s < 0:
            raise ConfigurationError("max_send_delay_s must be >= 0")

    @property
    def target_per_s(self) -> float:
        return self.rpm * self.headroom / 60.0


@dataclass(frozen=True, slots=True)
class BudgetStats:
    name: str
    target_rpm: float
    rate_rpm: float  # in use now (lower than target after 429s)
    granted: int
    granted_by_priority: Mapping[str, int]
    waiting: int
    rate_limited: int  # 429s reported to this budget
    paused_s: float  # remaining pause, 0 when not paused


class Budget:
    """A shared, priority-aware request budget. Use one per rate limit you must respect."""

    _PUMP_NAME = "budget"  # of the pump task: batchpoll-budget-<name>

    def __init__(
        self,
        settings: BudgetSettings | float,
        *,
        name: str = "requests",
        clock: Clock | None = None,
    ) -> None:
        """``clock``: where the budget reads time and waits (default: the running loop's; a
        poller builds its own budget on the poller's clock)."""
        self._clock: Clock = clock if clock is not None else LoopClock()
        self.settings = (
            settings if isinstance(settings, BudgetSettings) else BudgetSettings(settings)
        )
        self.name = name
        self._target_per_s = self.settings.target_per_s
        self._rate_per_s = self._target_per_s
        self._bucket = LeakyBucket(self.settings.burst, self._rate_per_s)
        # One FIFO per class: the pump serves the most urgent non-empty one (or a create's turn).
        self._queues: tuple[deque[asyncio.Future[Ticket]], ...] = tuple(deque() for _ in Priority)
        # The share rules waiting creates brought (``acquire(create_share=)``), by waiter: the
        # first waiting create's is read at each grant to a check or fetch.
        self._shares: dict[asyncio.Future[Ticket], Callable[[], float]] = {}
        self._create_credit = 0.0
        self._wakeup: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._paused_until = 0.0
        self._last_change = 0.0
        self._granted = [0] * len(Priority)
        self._waiting = [0] * len(Priority)
        self._rate_limited = 0
        self._released: asyncio.Event | None = None
        self._window = ArrivalWindow(
            self._quantum(self.settings.rpm),
            self.settings.max_send_delay_s,
            clock=self._clock.now,
            on_release=self._on_release,
        )

    # --- public ---------------------------------------------------------------------------

    def try_acquire(self, priority: Priority = Priority.CHECK) -> Ticket | None:
        """A token now if one is free and nobody waits (so no one can be more urgent), else
        None: the caller that can do something else meanwhile need not queue."""
        now = self._clock.now()
        if (
            now >= self._paused_until
            and not any(self._waiting)
            and self._window.has_room(now)
            and self._bucket.try_take(now)
        ):
            self._granted[priority] += 1
            return self._window.grant(now)
        return None

    async def acquire(
        self,
        priority: Priority = Priority.CHECK,
        *,
        create_share: Callable[[], float] | None = None,
    ) -> Ticket:
        """Wait for one token. Release the ticket when the reply is in (or the attempt ended),
        so the window knows the request was counted. Cancel-safe: a cancelled waiter gives
        its place up. ``create_share`` (a create's): the share in [0, 1] of the tokens checks
        and fetches would get that waiting creates may take now, asked at each such grant
        while this create is the first one waiting (None: only tokens nobody else wants)."""
        ticket = self.try_acquire(priority)
        return ticket if ticket is not None else await self._queued(priority, create_share)

    async def _queued(
        self, priority: Priority, create_share: Callable[[], float] | None = None
    ) -> Ticket:
        """Wait in ``priority``'s queue until the pump grants a token (started if need be)."""
        loop = asyncio.get_running_loop()  # for its tasks and futures; time is the clock's
        if self._pump_task is None or self._pump_task.done():
            self._wakeup = asyncio.Event()
            name = f"batchpoll-{self._PUMP_NAME}-{self.name}"
            self._pump_task = loop.create_task(self._pump(), name=name)
        fut: asyncio.Future[Ticket] = loop.create_future()
        self._queues[priority].append(fut)
        if create_share is not None and priority is Priority.CREATE:
            self._shares[fut] = create_share
        assert self._wakeup is not None
        self._wakeup.set()
        self._waiting[priority] += 1
        try:
            ticket = await fut
        finally:
            self._waiting[priority] -= 1
            if self._shares:
                self._shares.pop(fut, None)
        self._granted[priority] += 1
        return ticket

    @property
    def clock(self) -> Clock:
        """Where the budget reads time and waits."""
        return self._clock

    @property
    def rate_per_s(self) -> float:
        """Requests per second in use now."""
        return self._rate_per_s

    def waiting(self, priority: Priority | None = None) -> int:
        """Waiters now, of one priority class or all (O(1): the scheduler asks often)."""
        return sum(self._waiting) if priority is None else self._waiting[priority]

    def on_rate_limited(self, retry_after_s: float | None) -> None:
        """The server said 429: pause everyone, then go slower."""
        now = self._clock.now()
        pause = retry_after_s if retry_after_s is not None else self.settings.default_pause_s
        self._rate_limited += 1
        self._paused_until = max(self._paused_until, now + pause)
        floor = self._target_per_s * self.settings.floor_fraction
        self._set_rate(max(floor, self._rate_per_s * self.settings.cut_factor), now)
        log.warning(
            "batchpoll.budget.throttled",
            budget=self.name,
            pause_s=round(pause, 3),
            rate_rpm=round(self._rate_per_s * 60, 1),
        )

    def on_headers(self, headers: Mapping[str, str]) -> None:
        """Learn from ``x-ratelimit-*``: a lower server limit wins; 0 remaining pauses."""
        info = parse_rate_limit_headers(headers)
        if info is None:
            return
        now = self._clock.now()
        if info.limit_requests is not None and info.limit_requests > 0:
            server_per_s = info.limit_requests * self.settings.headroom / 60.0
            target = min(self.settings.target_per_s, server_per_s)
            # The window follows the server's quantum, never above the one of our own rpm.
            self._window.cap = self._quantum(min(self.settings.rpm, info.limit_requests))
            if target < self._target_per_s - 1e-9:
                self._target_per_s = target
                if self._rate_per_s > target:
                    self._set_rate(target, now)
                log.info(
                    "batchpoll.budget.limit_lowered", budget=self.name, rpm=info.limit_requests
                )
            elif target > self._target_per_s + 1e-9:
                # The server's limit went back up (never above the rpm we were given): the
                # target follows, and the rate climbs back to it gradually, as after a 429.
                self._target_per_s = target
                log.info("batchpoll.budget.limit_raised", budget=self.name, rpm=info.limit_requests)
        if info.remaining_requests == 0 and info.reset_requests_s:
            # The reset is when the whole quota is back (up to a minute, or more); one
            # request's worth returns after 60 / limit s. Waiting for the full reset would
            # stall every job for nothing; if the guess is early, a 429 says exactly how long.
            pause = info.reset_requests_s
            if info.limit_requests is not None and info.limit_requests > 0:
                pause = min(pause, 60.0 / info.limit_requests)
            self._paused_until = max(self._paused_until, now + pause)

    def stats(self) -> BudgetStats:
        try:
            now = self._clock.now()
        except RuntimeError:
            now = self._paused_until
        return BudgetStats(
            name=self.name,
            target_rpm=self._target_per_s * 60.0,
            rate_rpm=self._rate_per_s * 60.0,
            granted=sum(self._granted),
            granted_by_priority={p.name.lower(): self._granted[p] for p in Priority},
            waiting=self.waiting(),
            rate_limited=self._rate_limited,
            paused_s=max(0.0, self._paused_until - now),
        )

    async def aclose(self) -> None:
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for queue in self._queues:
            for fut in queue:
                fut.cancel()
            queue.clear()

    # --- the pump -------------------------------------------------------------------------

    def _set_rate(self, per_s: float, now: float) -> None:
        if abs(per_s - self._rate_per_s) > 1e-12:
            self._rate_per_s = per_s
            self._bucket.set_rate(per_s, now)  # the same bucket: see _leaky
        self._last_change = now

    def _recover(self, now: float) -> None:
        if self._rate_per_s >= self._target_per_s:
            return
        quiet = now - max(self._last_change, self._paused_until)
        if quiet >= self.settings.recover_every_s:
            step = self._target_per_s * self.settings.recover_step
            self._set_rate(min(self._target_per_s, self._rate_per_s + step), now)

    @staticmethod
    def _quantum(rpm: float) -> int:
        """What a server that quantizes ``rpm`` per second accepts within 1 s."""
        return max(1, math.floor(rpm / 60.0 + 1e-9))

    def _on_release(self) -> None:
        released = self._released
        if released is not None:  # only while the pump waits for room (once per reply)
            released.set()

    async def _window_room(self) -> None:
        """Until the window has room for one more request (a reply can make room early)."""
        while (wait := self._window.wait_s(self._clock.now())) > 0:
            self._released = released = asyncio.Event()
            try:
                await self._clock.wait(released, max(wait, _MIN_WAIT_S))
            finally:
                self._released = None

    def _head(self, priority: Priority) -> asyncio.Future[Ticket] | None:
        queue = self._queues[priority]
        while queue and queue[0].done():
            queue.popleft()  # cancelled waiters
        return queue[0] if queue else None

    def _most_urgent(self) -> Priority | None:
        for priority in Priority:
            if self._head(priority) is not None:
                return priority
        return None

    def _pop_waiter(self) -> asyncio.Future[Ticket] | None:
        """The waiter the next token goes to: the most urgent one, except that waiting
        creates earn the first one's ``create_share`` of a token at each grant to a check or
        fetch, and take the token when they have earned a whole one."""
        urgent = self._most_urgent()
        if urgent is None:
            return None
        chosen = urgent
        create = self._head(Priority.CREATE) if urgent in (Priority.CHECK, Priority.FETCH) else None
        if create is not None:
            rule = self._shares.get(create)
            share = rule() if rule is not None else 0.0
            if share > 0:
                # Spent as soon as it is whole, so it never exceeds 1 + share: no bursts.
                self._create_credit += share
                if self._create_credit >= 1.0 - 1e-9:
                    self._create_credit -= 1.0
                    chosen = Priority.CREATE
            else:
                self._create_credit = 0.0  # no saving up for a burst while creates must wait
        return self._queues[chosen].popleft()

    async def _pump(self) -> None:
        assert self._wakeup is not None
        clock = self._clock
        while True:
            if self._most_urgent() is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            now = clock.now()
            if now < self._paused_until:
                await clock.sleep(max(self._paused_until - now, _MIN_WAIT_S))
                continue
            self._recover(now)
            wait = self._bucket.wait_s(now)
            if wait > 0:
                await clock.sleep(max(wait, _MIN_WAIT_S))
                continue
            await self._window_room()  # until the server's second has room
            now = clock.now()
            if now < self._paused_until or self._most_urgent() is None:
                continue  # a 429 arrived while we waited, or the waiter left
            if not self._bucket.try_take(now):
                continue  # a grant without waiting took it (nobody was queued a moment)
            fut = self._pop_waiter()
            if fut is not None:
                fut.set_result(self._window.grant(now))
