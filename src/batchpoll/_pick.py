"""Which due job a granted token goes to: pure, over the heap and a chance-of-done estimate.

Below saturation every due job gets its check soon, so due order is right and costs one
pop. While checks queue up (the earliest due job is over ``_planner``'s saturation lag late),
a token spent on a job still running is a request taken from one that is done: among the
``_PICK_AMONG`` earliest due jobs the one most likely to be done goes first. Looking at a
few keeps it O(log n) per pick (``DueHeap.peek_due`` walks the tree in due order) and keeps
the order close to due order, so no job waits behind newer ones for long.
"""

from __future__ import annotations

from collections.abc import Callable

from ._heap import DueHeap
from ._planner import saturated
from ._record import Record

__all__ = ["pick_due"]

# How many due jobs the value-aware pick looks at (the earliest due ones).
_PICK_AMONG = 8


def pick_due(
    heap: DueHeap[Record],
    chance_done: Callable[[Record, float], float | None],
    now: float,
    head_due: float | None,
) -> Record | None:
    """The due job (at ``now``) to spend a token on, taken off the heap; None when none is
    due. ``chance_done(job, now)``: the chance the job is done by now, None if unknown;
    ``head_due``: the heap's earliest due time (``heap.next_due()``)."""
    if not saturated(now, head_due):
        return heap.pop_due(now)
    top = heap.first()
    top_score = None if top is None else chance_done(top, now)
    if top_score is None:  # nothing known about the earliest: due order it is
        return heap.pop_due(now)
    best: Record | None = None
    best_score = -1.0
    for _, job in heap.peek_due(now, _PICK_AMONG):
        score = top_score if job is top else chance_done(job, now)
        if score is None:
            score = 0.5
        if score > best_score:
            best, best_score = job, score
    if best is not None:
        heap.discard(best)
    return best
