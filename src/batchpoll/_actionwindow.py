"""How long a run waits for its tool outputs, and so how far apart its checks may be.

An Assistants run that asks for tools (``requires_action``) expires if its outputs do not come
within the server's action window (10 minutes on OpenAI, 20 s on the mock by default). The
window starts when the run asks, a moment we only bracket between two checks; so the gap
between checks of a run that may ask is the time the window loses before we even know. Capping
that gap at ``GAP_SHARE`` of the window leaves the rest for a late check under a saturated
budget, the tools themselves and a retried submit: the tool run never expires because of our
own scheduling.

The window is learned from the runs themselves: a run seen in ``requires_action`` at wall time
``t`` with ``expires_at = E`` asked at or before ``t``, so the window is at least ``E - t``. The
largest such value seen is a lower bound that tightens with every run that is caught early;
until the first one, a configured window (``PollSettings.action_window_s``) or none.
Background responses have no window: a completed response waits for its continuation for as
long as it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._heap import DueHeap
from ._record import CHECK, Record

__all__ = ["GAP_SHARE", "ActionWindow", "pull_forward"]

#: The longest gap between checks of a run that may ask for tools, as a share of its window.
GAP_SHARE = 0.5


class ActionWindow:
    __slots__ = ("window_s",)

    def __init__(self, window_s: float | None = None) -> None:
        self.window_s = window_s

    def observe(self, remaining_s: float) -> None:
        """A run in ``requires_action`` had ``remaining_s`` left when we saw it."""
        if remaining_s > 0 and (self.window_s is None or remaining_s > self.window_s):
            self.window_s = remaining_s

    def max_gap_s(self) -> float | None:
        """The longest a run that may ask should go unchecked (None: no window known)."""
        return None if self.window_s is None else GAP_SHARE * self.window_s

    def at_risk(self, since_last_check_s: float) -> bool:
        """A run unchecked this long has used up its share of the window: check it first."""
        gap = self.max_gap_s()
        return gap is not None and since_last_check_s >= gap


def pull_forward(jobs: Iterable[Record], heap: DueHeap[Record], gap_s: float) -> int:
    """The window was just learned: checks of runs planned further out than ``gap_s`` after
    their last check move to that moment (their old entries go stale). Returns how many moved.
    O(log n) each, once per poller: the window only grows afterwards, and the gap with it."""
    moved = 0
    for job in jobs:
        if job.kind.chained or job.action != CHECK or job.heap_key is None:
            continue
        latest = job.origin_at + job.last_age + gap_s
        if job.due > latest:
            heap.push(job, latest)
            moved += 1
    return moved
