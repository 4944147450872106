"""``PollerStats``: what a poller has done and holds, as one frozen value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._tokens import TokenStats

__all__ = ["PollerStats"]


@dataclass(frozen=True, slots=True)
class PollerStats:
    """A live snapshot, cheap enough to read several times a second (progress displays)."""

    in_flight: int
    done: int
    created: int
    requests: int
    checks: int
    rate_limited: int  # 429 responses seen
    transient_errors: int  # 5xx, connection errors, timeouts, malformed bodies (all retried)
    rate_rpm: float  # the shared budget's rate in use now
    target_rpm: float
    by_status: Mapping[str, int] = field(default_factory=dict)
    hints: int = 0  # "probably done" hints received (webhooks), duplicates included
    hints_matched: int = 0  # of those, for a job in flight (at once, or when it appeared)
    hints_pending: int = 0  # waiting for a job with that id to appear
    tokens: TokenStats | None = None  # the token budget's, when there is one (tpm=)
    heap_entries: int = 0  # the due-time heap's entries, stale ones included (compacted)
    heap_live: int = 0  # jobs with a due time: waiting for their next check
    tasks: int = 0  # the poller's tasks now: the scheduler and the steps running
