"""The one backoff: how long a retry waits after its ``attempt``-th failure.

A pure function of the attempt and an injected ``uniform`` (floats in [0, 1)), in the way of
stamina: tests pass ``lambda: 0.0`` or a seeded ``random.Random(...).random`` and get exact
numbers; the callers sleep on their ``Clock``. Exponential with *equal jitter* (half fixed,
half random): ``d = min(max_s, base_s * 2 ** (attempt - 1))``, the wait is in
``[d / 2, d)``. The fixed half keeps a storm of retries from coming back at once too early;
the random half spreads them, so clients that failed together do not retry together.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["backoff_s"]


def backoff_s(attempt: int, *, base_s: float, max_s: float, uniform: Callable[[], float]) -> float:
    """Seconds to wait before try ``attempt + 1`` (``attempt`` >= 1 failures so far)."""
    ceiling = min(max_s, base_s * 2.0 ** max(0, attempt - 1))
    return ceiling * (0.5 + 0.5 * uniform())
