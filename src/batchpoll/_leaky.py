"""The drip of one request budget: a leaky bucket, pure, time passed in.

**Why our own.** The budget used aiolimiter's ``AsyncLimiter``. Three things made that a poor
fit: its rate cannot change without writing its private ``_rate_per_sec`` (a 429 cuts the
rate, a quiet period raises it, headers lower it); it reads the event loop's clock itself, so
the budget's ``Clock`` could not be the one it used; and it answers "is there room?" and "take
one" each with a full leak and a waker check, which was the largest single cost of a check at
100,000 tracked jobs. The bucket here is the same shape in a dozen lines, with time as an
argument, so it is tested with plain numbers.

**Shape.** ``level`` drains at ``rate_per_s`` and each grant adds 1; a grant needs
``level + 1 <= capacity``. With ``capacity = burst``, ``burst`` grants may leave back to back
and then one every ``1 / rate_per_s`` s: over any interval of length ``T`` at most
``capacity + T × rate_per_s`` grants (the level starts at most at ``capacity`` and falls by at
most ``T × rate_per_s``).

**A rate change** first drains the level at the old rate up to ``now``, so grants already made
keep the spacing they were given, and a new rate never starts from an empty bucket (a fresh
bucket would let one extra request out at once: enough to cross a server's 1 s window).
"""

from __future__ import annotations

__all__ = ["LeakyBucket"]

# A clock that is quantized (the virtual clocks tests use) can land a float 1e-16 short of the
# instant "level + 1 <= capacity" turns true, and a waker would re-arm for that instant
# forever. A capacity larger by a negligible epsilon absorbs the rounding.
_EPS = 1e-9


class LeakyBucket:
    """``capacity`` back-to-back grants, then ``rate_per_s``."""

    __slots__ = ("_at", "_level", "capacity", "rate_per_s")

    def __init__(self, capacity: float, rate_per_s: float, now: float = 0.0) -> None:
        self.capacity = capacity + _EPS
        self.rate_per_s = rate_per_s
        self._level = 0.0
        self._at = now

    def _drain(self, now: float) -> float:
        if now > self._at:
            level = self._level - (now - self._at) * self.rate_per_s
            self._level = level if level > 0.0 else 0.0
            self._at = now
        return self._level

    def wait_s(self, now: float) -> float:
        """Seconds until one more grant fits (0: it fits now)."""
        excess = self._drain(now) + 1.0 - self.capacity
        return 0.0 if excess <= 0.0 else excess / self.rate_per_s

    def try_take(self, now: float) -> bool:
        """Take one grant if it fits now."""
        if self._drain(now) + 1.0 > self.capacity:
            return False
        self._level += 1.0
        return True

    def set_rate(self, rate_per_s: float, now: float) -> None:
        self._drain(now)
        self.rate_per_s = rate_per_s
