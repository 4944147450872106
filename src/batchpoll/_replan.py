"""Re-planning: when a class's duration model changes, its waiting jobs move to the new plan.

A job's due time is computed once, when it is scheduled, from the model of that moment. In a
bulk run every job is scheduled in the first second, from the prior: without re-planning,
what the model learns a few seconds later reaches no job already waiting (400 jobs of ~3 s
waited for a cold 6 s plan: 6.3 s of mean lag, 5.7 × the seed loop's).

So the planner refreshes a class (refits its model with its running jobs as right-censored
observations) when enough new checks of it came back, and when the estimate moved, every
waiting job of that class is pushed again at the due time the new model gives. The heap
keeps its old entry as stale (``_heap``: skipped when it reaches the top, compacted when
stale entries dominate), so a move is one O(log n) push and nothing is searched for.

How often: a class is refreshed after ``max(MIN_NEW, SHARE × k)`` new checks, with ``k``
the smaller of its checks at the last refresh and its jobs in flight. Early on that is
every few checks (the first finishes teach the most); in a long run with ``n`` jobs in
flight it is at most once per ``SHARE × n`` checks, so a refresh's O(n) pass costs O(1/SHARE)
per check amortised, whatever ``n``. A job whose new due time is within ``TOLERANCE`` of
its old one (relative to the wait) is left where it is, and so is one already due (the
scheduler may be holding a token for it: postponed, the token would go unused).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._heap import DueHeap
from ._record import CHECK, Record

__all__ = ["MIN_NEW", "SHARE", "TOLERANCE", "Refresh", "move"]

MIN_NEW = 4
SHARE = 0.25
TOLERANCE = 0.05


@dataclass(slots=True)
class Refresh:
    """When one class is due a refresh: counts of its checks (pure bookkeeping)."""

    checks: int = 0  # checks of the class seen so far
    at_last: int = 0  # ``checks`` at the last refresh
    in_flight: int = 0  # the class's jobs in flight at the last refresh
    moves: int = 0  # refreshes that moved the model
    jobs_moved: int = field(default=0)

    def seen(self) -> bool:
        """One more check came back; True when the class is due a refresh."""
        self.checks += 1
        k = min(self.at_last, self.in_flight) if self.at_last else 0
        return self.checks - self.at_last >= max(MIN_NEW, SHARE * k)

    def done(self, in_flight: int) -> None:
        self.at_last = self.checks
        self.in_flight = in_flight


def move(
    jobs: Iterable[Record],
    heap: DueHeap[Record],
    now: float,
    planned_due: Callable[[Record], float | None],
    due_of: Callable[[Record], float],
) -> int:
    """Push every waiting check among ``jobs`` whose planned due time moved; returns how
    many moved. ``planned_due``: the cheap estimate (origin + the plan's next age; None: not
    planned by the model), ``due_of``: the full policy's due time, asked only for movers."""
    moved = 0
    for job in jobs:
        if job.heap_seq < 0:
            continue
        x = job.extras
        if x.action != CHECK or x.hinted or x.error_streak:
            continue
        if job.due <= now:  # already due: the scheduler may hold a token for it
            continue
        planned = planned_due(job)
        if planned is None:
            continue
        old = job.due
        wait = max(old - now, planned - now, 0.1)
        if abs(planned - old) <= TOLERANCE * wait:
            continue
        due = due_of(job)
        # Only a move the plan asks for: a job whose planned time has passed is due as soon
        # as the policy allows (its floor may put that a little after ``old``; moving it
        # there again at every refresh would starve it).
        if (due - old) * (planned - old) <= 0 or abs(due - old) <= TOLERANCE * wait:
            continue
        heap.push(job, due)
        job.due = due
        moved += 1
    return moved
