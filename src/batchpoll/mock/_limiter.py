"""Request rate limits as OpenAI enforces them: exact sliding windows, quantized to 1 s.

**Enforcement.** A budget of ``rpm`` requests per minute accepts a request at time t iff
fewer than ``burst`` requests were accepted in (t - 1 s, t] AND fewer than ``rpm`` in
(t - 60 s, t]. So no half-open window [s, s + 1 s) ever holds more than ``burst`` accepted
requests, nor any [s, s + 60 s) more than ``rpm``. Rejected requests do not consume anything.

**Headers** (what ``x-ratelimit-remaining-requests`` / ``-reset-requests`` report), per
``header_semantics``:

- ``"bucket"`` (default, as OpenAI documents them): a bucket of capacity ``rpm`` refilled
  continuously at ``rpm / 60`` per second, which every accepted request drains by one
  (``_bucket.ContinuousBucket``). Remaining = whole requests in it, reset = until it is full
  again: at 60 RPM one request spent reads 59 and ``1s``. The windows admit at most ``rpm``
  in any 60 s, and then the bucket never runs dry: it always holds at least
  ``rpm`` − (accepted in the last 60 s), so it never reports less than the window does.
- ``"window"`` (the mock's former semantics): remaining = ``rpm`` − accepted in the last 60 s,
  reset = until that window is empty.

**Requests per day** (``rpd``, optional, for every request): a bucket of ``rpd`` refilled
continuously over a day, as OpenAI's RPD 429s show ("Limit 200, Used 200, Requested 1.
Please try again in 7m12s": one request back after 86,400 s / 200). A request needs one
request in it. The headers do not describe it.

Time is kept in integer microseconds: the window arithmetic is exact, so the limiter and
anyone checking it (the property test) agree on every boundary.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from ._bucket import TICKS_PER_S, ContinuousBucket
from ._config import HeaderSemantics

__all__ = [
    "Budget",
    "Decision",
    "HeaderSemantics",
    "RateLimiter",
    "SlidingWindow",
    "to_ticks",
]

SECOND = TICKS_PER_S
MINUTE = 60 * TICKS_PER_S
DAY_S = 86_400

# Advertised when no limit is configured: the headers are still present (clients may rely on
# them) and say "plenty", without pretending that anything was consumed.
UNLIMITED_RPM = 1_000_000


def to_ticks(t_s: float) -> int:
    return round(t_s * TICKS_PER_S)


class SlidingWindow:
    """Timestamps of accepted requests within the last ``span`` ticks, oldest first."""

    __slots__ = ("_ticks", "span")

    def __init__(self, span: int) -> None:
        self.span = span
        self._ticks: deque[int] = deque()

    def _prune(self, now: int) -> None:
        cutoff = now - self.span
        ticks = self._ticks
        while ticks and ticks[0] <= cutoff:
            ticks.popleft()

    def count(self, now: int) -> int:
        self._prune(now)
        return len(self._ticks)

    def wait(self, now: int, limit: int) -> int:
        """Ticks until one more request fits under ``limit`` (0: it fits now)."""
        self._prune(now)
        if len(self._ticks) < limit:
            return 0
        # The limit-th most recent acceptance must leave the window first.
        return self._ticks[-limit] + self.span - now

    def add(self, now: int) -> int:
        """Record an acceptance; returns how many the window now holds."""
        self._prune(now)
        self._ticks.append(now)
        return len(self._ticks)

    def newest(self) -> int | None:
        return self._ticks[-1] if self._ticks else None


class Budget:
    """One named budget: ``rpm`` per 60 s window and ``burst`` per 1 s window, plus the
    bucket its headers describe (``"bucket"`` semantics)."""

    __slots__ = ("bucket", "burst", "minute", "name", "rpm", "second")

    def __init__(self, name: str, rpm: int, burst: int) -> None:
        self.name = name
        self.rpm = rpm
        self.burst = burst
        self.second = SlidingWindow(SECOND)
        self.minute = SlidingWindow(MINUTE)
        self.bucket = ContinuousBucket(rpm)

    def wait(self, now: int) -> tuple[int, str]:
        """(ticks to wait, which window binds: "1s" or "60s")."""
        w1 = self.second.wait(now, self.burst)
        w60 = self.minute.wait(now, self.rpm)
        return (w1, "1s") if w1 >= w60 else (w60, "60s")

    def record(self, now: int) -> None:
        self.second.add(now)
        self.minute.add(now)
        self.bucket.refill(now, self.rpm)
        self.bucket.take(1)

    def remaining(self, now: int, semantics: HeaderSemantics = "bucket") -> int:
        if semantics == "bucket":
            self.bucket.refill(now, self.rpm)
            return self.bucket.remaining()
        return max(0, self.rpm - self.minute.count(now))

    def reset_ticks(self, now: int, semantics: HeaderSemantics = "bucket") -> int:
        """Ticks until the budget is fully restored: the bucket full again, or (``window``)
        the minute window empty again."""
        if semantics == "bucket":
            self.bucket.refill(now, self.rpm)
            return self.bucket.reset_ticks()
        newest = self.minute.newest()
        if newest is None or self.minute.count(now) == 0:
            return 0
        return max(0, newest + self.minute.span - now)


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer, with what the rate-limit headers and the 429 body report."""

    accepted: bool
    wait_s: float
    limit_rpm: int
    remaining: int
    reset_s: float
    # For the 429 message: the binding budget and window ("1s", "60s", or "1d": per day).
    budget: str = ""
    window: str = ""
    burst: int = 0
    used: int = 0  # in the binding window
    binding_limit: int = 0  # the binding budget's rpm, or the rpd
    binding_used: int = 0  # in its minute window, or taken from the day's bucket


class RateLimiter:
    """A global budget (``rpm``) and optional per-class budgets, all applied together."""

    def __init__(self, header_semantics: HeaderSemantics = "bucket") -> None:
        self._budgets: dict[str, Budget] = {}
        self.header_semantics: HeaderSemantics = header_semantics
        self._rpd: int | None = None
        self._day: ContinuousBucket | None = None

    def configure(
        self,
        rpm: int | None,
        burst: int | None,
        class_rpm: Mapping[str, int],
        class_burst: Mapping[str, int],
        rpd: int | None = None,
    ) -> None:
        """Set limits; windows of budgets that persist keep their history (a live change)."""
        self._rpd = rpd
        if rpd is None:
            self._day = None
        elif self._day is None:
            self._day = ContinuousBucket(rpd, period_s=DAY_S)
        wanted: dict[str, tuple[int, int]] = {}
        if rpm is not None:
            wanted["all"] = (rpm, burst if burst is not None else _default_burst(rpm))
        for klass, class_limit in class_rpm.items():
            klass_burst = class_burst.get(klass, _default_burst(class_limit))
            wanted[klass] = (class_limit, klass_burst)
        for name in list(self._budgets):
            if name not in wanted:
                del self._budgets[name]
        for name, (budget_rpm, budget_burst) in wanted.items():
            budget = self._budgets.get(name)
            if budget is None:
                self._budgets[name] = Budget(name, budget_rpm, budget_burst)
            else:
                budget.rpm, budget.burst = budget_rpm, budget_burst

    def limits(self) -> dict[str, tuple[int, int]]:
        return {name: (b.rpm, b.burst) for name, b in self._budgets.items()}

    def _applicable(self, request_class: str) -> list[Budget]:
        return [b for name, b in self._budgets.items() if name in ("all", request_class)]

    def try_acquire(self, now_s: float, request_class: str) -> Decision:
        blocked = self.blocked(now_s, request_class)
        return blocked if blocked is not None else self.acquire(now_s, request_class)

    def blocked(self, now_s: float, request_class: str) -> Decision | None:
        """The rejection if a request would not fit now, else None. Consumes nothing, so a
        caller can check another limit (tokens) before committing with :meth:`acquire`."""
        now = to_ticks(now_s)
        budgets = self._applicable(request_class)
        worst: tuple[int, str, Budget] | None = None
        for budget in budgets:
            wait, window = budget.wait(now)
            if wait > 0 and (worst is None or wait > worst[0]):
                worst = (wait, window, budget)
        day = self._day_bucket(now)
        if day is not None and not day.fits(1):
            day_wait = day.wait_ticks(1)
            if worst is None or day_wait > worst[0]:
                return dataclasses.replace(
                    self._decision(now, budgets, accepted=False, wait=day_wait),
                    budget="day",
                    window="1d",
                    binding_limit=day.capacity,
                    binding_used=day.capacity - day.remaining(),
                )
        if worst is None:
            return None
        wait, window, budget = worst
        used = budget.second.count(now) if window == "1s" else budget.minute.count(now)
        return self._decision(
            now, budgets, accepted=False, wait=wait, binding=budget, window=window, used=used
        )

    def _day_bucket(self, now: int) -> ContinuousBucket | None:
        if self._day is not None and self._rpd is not None:
            self._day.refill(now, self._rpd)
        return self._day

    def acquire(self, now_s: float, request_class: str) -> Decision:
        """Record an accepted request (after :meth:`blocked` said it fits)."""
        now = to_ticks(now_s)
        budgets = self._applicable(request_class)
        for budget in budgets:
            budget.record(now)
        day = self._day_bucket(now)
        if day is not None:
            day.take(1)
        return self._decision(now, budgets, accepted=True)

    def peek(self, now_s: float, request_class: str) -> Decision:
        """The headers' view without consuming (for replies rejected before the limiter)."""
        now = to_ticks(now_s)
        return self._decision(now, self._applicable(request_class), accepted=True)

    def _decision(
        self,
        now: int,
        budgets: list[Budget],
        *,
        accepted: bool,
        wait: int = 0,
        binding: Budget | None = None,
        window: str = "",
        used: int = 0,
    ) -> Decision:
        if not budgets:
            return Decision(accepted, wait / TICKS_PER_S, UNLIMITED_RPM, UNLIMITED_RPM, 0.0)
        # Headers describe the budget closest to exhaustion, as a client would want to know.
        sem = self.header_semantics
        shown = min(budgets, key=lambda b: (b.remaining(now, sem), b.name != "all"))
        return Decision(
            accepted=accepted,
            wait_s=wait / TICKS_PER_S,
            limit_rpm=shown.rpm,
            remaining=shown.remaining(now, sem),
            reset_s=shown.reset_ticks(now, sem) / TICKS_PER_S,
            budget=binding.name if binding else "",
            window=window,
            burst=binding.burst if binding else 0,
            used=used,
            binding_limit=binding.rpm if binding else 0,
            binding_used=binding.minute.count(now) if binding else 0,
        )


def _default_burst(rpm: int) -> int:
    return max(1, -(-rpm // 60))
