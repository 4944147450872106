"""When a failed webhook delivery is tried again: OpenAI's "exponential backoff for up to
72 hours", compressed by ``webhook_retry_scale`` so tests run days of schedule in seconds.

An attempt fails when the receiver answers anything but 2xx, cannot be reached, or does not
answer within ``webhook_timeout_s``. After failed attempt n the next one comes
``min(5 s × 2^(n-1), 12 h) × scale`` later (5 s, 10 s, 20 s, … then every 12 h), unless that
is more than ``webhook_retry_for_s × scale`` (72 h) after the first attempt: then the mock gives
up. OpenAI publishes no exact schedule; this one is the mock's, with OpenAI's shape and span.
Every attempt carries the same ``webhook-id`` and body (a fresh timestamp and signature), so a
receiver that acted on an attempt whose reply was lost sees the retry as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIRST_GAP_S", "MAX_GAP_S", "RETRY_FOR_S", "RetryPolicy"]

FIRST_GAP_S = 5.0
MAX_GAP_S = 12 * 3600.0
RETRY_FOR_S = 72 * 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Frozen into each delivery when its event is scheduled (a live change affects new events)."""

    scale: float = 1.0
    retry_for_s: float = RETRY_FOR_S  # 0: never retry
    timeout_s: float = 10.0

    def gap_s(self, failed_attempt: int) -> float:
        """Seconds from failed attempt ``failed_attempt`` (from 1) to the next one."""
        return min(FIRST_GAP_S * 2.0 ** (failed_attempt - 1), MAX_GAP_S) * self.scale

    def next_attempt_at(self, first_at: float, failed_attempt: int, now: float) -> float | None:
        """When to try again after ``failed_attempt`` failed at ``now`` (None: give up)."""
        at = now + self.gap_s(failed_attempt)
        return at if at - first_at <= self.retry_for_s * self.scale else None
