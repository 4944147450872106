"""A continuously refilled bucket in exact integers: what OpenAI's rate-limit headers describe.

Capacity ``C`` per minute (requests or tokens), refilled at ``C / 60`` per second, starting
full; or per day (``period_s=86400``: requests per day, where OpenAI's 429 says one request
is back after a day / limit, e.g. 7m12s at 200 RPD). ``x-ratelimit-remaining-*`` is the
whole amount it holds; ``x-ratelimit-reset-*`` the time until it is full again. So at
60 RPM, one request spent leaves 59 and is back in ``1s`` (OpenAI's documented example), and
at 5,000 RPM in ``12ms`` (what real replies show).

One item (a request or a token) is ``period`` ticks' worth of units and the bucket gains
``C`` units per microsecond tick, so levels, waits and resets are exact integers; times are
ticks (:func:`batchpoll.mock._limiter.to_ticks`).
"""

from __future__ import annotations

__all__ = ["TICKS_PER_S", "ContinuousBucket"]

TICKS_PER_S = 1_000_000


class ContinuousBucket:
    """Capacity ``capacity`` items per ``period_s`` (a minute), refilled continuously,
    starting full."""

    __slots__ = ("capacity", "level", "unit", "updated")

    def __init__(self, capacity: int, period_s: int = 60) -> None:
        self.capacity = capacity
        self.unit = period_s * TICKS_PER_S  # one item, in units
        self.level = capacity * self.unit
        self.updated: int | None = None  # the first refill starts the clock

    def refill(self, now: int, capacity: int | None = None) -> None:
        """Bring the level up to ``now``; a new ``capacity`` applies from ``now`` on (what
        the bucket holds is kept, up to the new cap)."""
        if self.updated is not None and now > self.updated:
            elapsed = now - self.updated
            self.level = min(self.capacity * self.unit, self.level + elapsed * self.capacity)
        if self.updated is None or now > self.updated:
            self.updated = now
        if capacity is not None and capacity != self.capacity:
            self.capacity = capacity
            self.level = min(self.level, capacity * self.unit)

    def fits(self, amount: int) -> bool:
        return amount * self.unit <= self.level

    def take(self, amount: int) -> None:
        self.level = max(0, self.level - amount * self.unit)

    def remaining(self) -> int:
        """Whole items it holds."""
        return self.level // self.unit

    def reset_ticks(self) -> int:
        """Ticks until it is full again (0: full)."""
        return -(-(self.capacity * self.unit - self.level) // self.capacity)

    def wait_ticks(self, amount: int) -> int:
        """Ticks until ``amount`` items fit (0: they fit now)."""
        missing = amount * self.unit - self.level
        return max(0, -(-missing // self.capacity))
