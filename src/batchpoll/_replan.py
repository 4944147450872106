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
from ._policy import PollSettings
from ._record import CHECK, Record, _Side
from ._retention import retention_gap
from .kinds import JobKind

__all__ = ["MIN_NEW", "SHARE", "TOLERANCE", "Refresh", "move", "policy_due"]

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
    due_of: Callable[[Record, _Side, float], float],
) -> int:
    """Push every waiting check among ``jobs`` whose planned due time moved; returns how
    many moved. ``planned_due``: the cheap estimate (origin + the plan's next age; None: not
    planned by the model), ``due_of(job, job.extras, planned)``: the full policy's due time
    for that plan (``policy_due``), asked only for movers."""
    moved = 0
    push = heap.push
    for job in jobs:
        old = job.heap_key
        if old is None:
            continue
        if old <= now:  # already due: the scheduler may hold a token for it
            continue
        x = job.extras
        if x.action != CHECK or x.hinted or x.error_streak:
            continue
        planned = planned_due(job)
        if planned is None:
            continue
        wait = old - now
        if planned - now > wait:
            wait = planned - now
        if wait < 0.1:
            wait = 0.1
        shift = planned - old
        if -TOLERANCE * wait <= shift <= TOLERANCE * wait:
            continue
        due = due_of(job, x, planned)
        # Only a move the plan asks for: a job whose planned time has passed is due as soon
        # as the policy allows (its floor may put that a little after ``old``; moving it
        # there again at every refresh would starve it).
        if (due - old) * shift <= 0 or abs(due - old) <= TOLERANCE * wait:
            continue
        push(job, due)
        moved += 1
    return moved


def policy_due(
    now: float,
    wall: float,
    fair_spacing_s: float,
    uniform: Callable[[], float],
    poll_of: Callable[[JobKind], PollSettings],
    action_gap: Callable[[JobKind], float | None],
) -> Callable[[Record, _Side, float], float]:
    """``due_of`` for ``move``: what ``Planner.next_delay`` gives a waiting check whose plan
    says ``planned`` (a due time), in plain arithmetic. A re-plan asks it for every moved
    job, up to 100,000 at once, so the settings and the caps of each kind are read once,
    not per job. Exactly ``_policy.next_check_delay`` for a job with a learned plan, no
    error streak and no push safety net (``tests/core/test_replan.py`` holds them equal);
    the caps per job are its deadline, its run's ``expires_at``, the server's
    ``openai-poll-after-ms`` and its response's retention."""
    kinds: dict[int, tuple[float, float, float, bool, float, float | None, str]] = {}

    def due_of(job: Record, x: _Side, planned: float) -> float:
        kind = job.kind
        c = kinds.get(id(kind))
        if c is None:
            p = poll_of(kind)
            c = kinds[id(kind)] = (
                p.min_interval_s,
                p.max_interval_s,
                p.jitter * 0.25,  # the learned schedule's touch of jitter
                p.honor_poll_after,
                p.expiry_grace_s,
                action_gap(kind),
                kind.name,
            )
        low, high, jitter, honor, grace, gap, name = c
        delay = planned - now
        delay = high if delay > high else low if delay < low else delay
        delay *= 1.0 + jitter * (2.0 * uniform() - 1.0)
        after = x.poll_after_s
        if honor and after is not None and delay < after:
            delay = after
        if delay < fair_spacing_s:
            delay = fair_spacing_s
        kept = retention_gap(name, x.params)
        if gap is not None and delay > gap:
            delay = gap
        if kept is not None and delay > kept:
            delay = kept
        expires = x.expires_at
        if expires is not None and expires - wall >= 0:
            delay = min(delay, expires - wall + grace)
        deadline = job.deadline
        if deadline is not None and delay > deadline - now:
            delay = deadline - now
        return now + (delay if delay > 0.0 else 0.0)

    return due_of
