"""Push hints: a webhook (or anything else) saying "this server id is probably done".

A hint never finishes a job by itself: it makes the job due now, and the check that follows
reads the result through the budget. ``WebhookSettings`` says how jobs of kinds that OpenAI
pushes events for are polled meanwhile (a slow safety net); ``PendingHints`` keeps hints for
ids nobody tracks yet (the event can beat the create's response), bounded and expiring.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ._errors import ConfigurationError

__all__ = ["PendingHints", "WebhookSettings"]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhooks are on: jobs whose kind OpenAI pushes events for (background responses) are
    checked every ``safety_interval_s`` (the first check too) instead of on the learned
    schedule, and a hint (``Poller.notify_done``) makes one due at once. Kinds without webhooks
    (Assistants runs) keep their normal schedule. Lost events cost up to one safety interval
    of latency, never a result.

    ``pending_ttl_s`` / ``max_pending``: how long and how many hints for ids not (yet) tracked
    are kept, to be matched when the job appears.
    """

    safety_interval_s: float = 60.0
    pending_ttl_s: float = 600.0
    max_pending: int = 100_000

    def __post_init__(self) -> None:
        if not self.safety_interval_s > 0:
            raise ConfigurationError("safety_interval_s must be > 0")
        if not self.pending_ttl_s > 0:
            raise ConfigurationError("pending_ttl_s must be > 0")
        if self.max_pending < 0:
            raise ConfigurationError("max_pending must be >= 0")


class PendingHints:
    """Hints for ids nobody tracks yet: oldest first, dropped after ``ttl_s`` or beyond
    ``limit`` (the oldest goes). Pure data: ``now`` is passed in."""

    __slots__ = ("_at", "_limit", "_ttl_s", "dropped")

    def __init__(self, ttl_s: float, limit: int) -> None:
        self._ttl_s = ttl_s
        self._limit = limit
        self._at: OrderedDict[str, float] = OrderedDict()
        self.dropped = 0  # expired or evicted unmatched

    def __len__(self) -> int:
        return len(self._at)

    def add(self, key: str, now: float) -> None:
        self._expire(now)
        if self._limit == 0:
            self.dropped += 1
            return
        self._at.pop(key, None)
        self._at[key] = now
        while len(self._at) > self._limit:
            self._at.popitem(last=False)
            self.dropped += 1

    def take(self, key: str, now: float) -> bool:
        """True (and forgotten) when a live hint for ``key`` is waiting."""
        self._expire(now)
        return self._at.pop(key, None) is not None

    def _expire(self, now: float) -> None:
        at = self._at
        while at:
            key, t = next(iter(at.items()))
            if now - t <= self._ttl_s:
                break
            del at[key]
            self.dropped += 1
