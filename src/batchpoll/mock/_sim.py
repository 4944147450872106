"""Job lifecycles computed from timestamps: no task, no timer per job.

A job stores when it was created, its random draws (made once, at creation, from
``random.Random(f"{seed}/{kind}/{sequence_number}")``) and the few things clients did to it
(tool-output submissions, a cancel). Its state at any ``now`` is a pure function of those, so
reading a job is O(rounds) and a million idle jobs cost nothing.

Run timeline (all wall-clock, seconds):

- ``queued`` for ``queue_delay_s``, then ``in_progress`` from ``start`` (``started_at``).
- The job needs ``work_s`` of work (lognormal). With R tool rounds, round k is asked when the
  work reaches k/(R+1) of ``work_s`` (one round: half-way). While a round waits for its outputs
  the work clock is paused; unanswered for ``action_expiry_s`` → ``expired``.
- When the work is done: ``completed`` | ``failed`` | ``incomplete`` (drawn at creation).
- Not terminal by ``created + run_expiry_s`` → ``expired`` at that instant.
- A cancel → ``cancelling`` for ``cancel_delay_s`` → ``cancelled`` (the cancel always wins).

A background response CHAIN (a response, then the continuations that answer its function
calls) is one job on the same clock, with two differences (``Timing.requeue`` and no action
expiry): the work pauses from the moment a response ends with function calls until the
continuation arrives, and each continuation is ``queued`` again for ``queue_delay_s`` before
its segment of the work starts. A cancel is immediate. A foreground response is created
terminal (completed at once).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from ._config import MockConfig
from ._durations import work_time

__all__ = ["TERMINAL", "Draws", "JobRecord", "Snapshot", "Timing", "draw", "observe", "snapshot"]

Outcome = Literal["completed", "failed", "incomplete"]
TERMINAL = frozenset({"completed", "failed", "incomplete", "expired", "cancelled"})


@dataclass(frozen=True, slots=True)
class Draws:
    work_s: float
    outcome: Outcome
    tool_rounds: int
    # Function calls asked in each round (1 or 2); empty: one per round (runs).
    calls: tuple[int, ...] = ()

    def calls_in_round(self, round_number: int) -> int:
        return self.calls[round_number - 1] if self.calls else 1


@dataclass(frozen=True, slots=True)
class Timing:
    """Config values frozen into the job at creation: live config changes affect new jobs only."""

    created_at: float
    queue_delay_s: float
    action_expiry_s: float | None  # None: an unanswered round waits forever (Responses)
    run_expiry_s: float | None  # None: never expires (Responses)
    cancel_delay_s: float
    requeue: bool = False  # each continuation is queued again (Responses chains)


def draw(
    config: MockConfig,
    kind: str,
    seq: int,
    *,
    tools: bool = True,
    parallel: bool = False,
    model: str | None = None,
) -> Draws:
    """The per-job random draws, in a fixed order so each knob moves only its own draw.

    ``tools``: the job declares a function it can call (otherwise it never asks one, but the
    draw still happens, so declaring tools does not shift the other draws). ``parallel``: a
    round may ask two calls at once (``parallel_calls_rate``); those draws come from their
    own stream, one per round, so they do not move the work time, outcome or rounds.
    ``model``: the model or assistant id, for ``duration_mix`` (``_durations``).
    """
    rng = random.Random(f"{config.seed}/{kind}/{seq}")
    work_s = work_time(
        rng,
        config.duration_median_s,
        config.duration_sigma,
        mix=config.duration_mix,
        model=model,
        part_rng=random.Random(f"{config.seed}/{kind}/{seq}/part"),
    )
    u_outcome = rng.random()
    u_tool = rng.random()
    outcome: Outcome = "completed"
    if u_outcome < config.fail_rate:
        outcome = "failed"
    elif u_outcome < config.fail_rate + config.incomplete_rate:
        outcome = "incomplete"
    rounds = 0
    if tools and u_tool < config.tool_rate:
        rounds = 1
        while rounds < config.max_tool_rounds and rng.random() < config.tool_repeat_rate:
            rounds += 1
    calls: tuple[int, ...] = ()
    if kind == "response":
        pairs = random.Random(f"{config.seed}/{kind}/{seq}/calls")
        calls = tuple(
            2 if pairs.random() < config.parallel_calls_rate and parallel else 1
            for _ in range(rounds)
        )
    return Draws(work_s=work_s, outcome=outcome, tool_rounds=rounds, calls=calls)


@dataclass(slots=True)
class JobRecord:
    """One run or response: creation facts plus what clients did to it and how they watched."""

    id: str
    kind: Literal["run", "response"]
    seq: int
    draws: Draws
    timing: Timing
    prompt: str
    metadata: dict[str, str]
    # Metadata that identifies the item for duplicate counting: the run's over its thread's.
    labels: dict[str, str] = field(default_factory=dict)
    polled: bool = True  # False for foreground responses: answered at once, never checked
    submissions: list[float] = field(default_factory=list)
    tool_outputs: list[str] = field(default_factory=list)
    cancel_at: float | None = None
    # Observation bookkeeping for the stats.
    checks: int = 0
    terminal_seen_at: float | None = None
    terminal_lag_s: float | None = None
    action_lags_s: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    status: str
    started_at: float | None
    terminal_at: float | None
    expires_at: float | None
    expired_by: Literal["action", "run"] | None
    pending_round: int | None  # the round awaiting outputs (status requires_action)
    asked_at: float | None  # when that round was asked
    rounds_asked: int
    # When each round was (or will be) asked, up to the pending one: for a chain, when each
    # response that asked function calls ended.
    asks: tuple[float, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def snapshot(job: JobRecord, now: float) -> Snapshot:
    t = job.timing
    start = t.created_at + t.queue_delay_s
    work = job.draws.work_s
    rounds = job.draws.tool_rounds
    clock, done = start, 0.0
    segment_start = start  # a chain's continuation is queued until its segment starts
    asks: list[float] = []
    pending: int | None = None
    natural_status: str = job.draws.outcome
    expired_by: Literal["action", "run"] | None = None
    for k in range(1, rounds + 1):
        target = work * k / (rounds + 1)
        asks.append(clock + (target - done))
        done = target
        if k <= len(job.submissions):
            # The work resumes when the outputs arrive (a chain: after the continuation's queue).
            clock = job.submissions[k - 1] + (t.queue_delay_s if t.requeue else 0.0)
            segment_start = clock
        else:
            pending = k
            break
    if pending is not None:
        if t.action_expiry_s is None:  # a chain waits for its continuation as long as it takes
            natural_status, natural_at = "requires_action", math.inf
        else:
            natural_status, natural_at = "expired", asks[-1] + t.action_expiry_s
            expired_by = "action"
    else:
        natural_at = clock + (work - done)
    run_deadline = None if t.run_expiry_s is None else t.created_at + t.run_expiry_s
    if run_deadline is not None and natural_at > run_deadline:
        natural_status, natural_at, expired_by = "expired", run_deadline, "run"

    stop = natural_at if job.cancel_at is None else min(natural_at, job.cancel_at)
    rounds_asked = sum(1 for ask in asks if ask <= min(now, stop))
    started_at = (
        start if now >= start and (job.cancel_at is None or job.cancel_at >= start) else None
    )
    seen = tuple(asks)

    if job.cancel_at is not None and now >= job.cancel_at:
        cancelled_at = job.cancel_at + t.cancel_delay_s
        if now < cancelled_at:
            return Snapshot(
                "cancelling", started_at, None, run_deadline, None, None, None, rounds_asked, seen
            )
        return Snapshot(
            "cancelled", started_at, cancelled_at, None, None, None, None, rounds_asked, seen
        )
    if now >= natural_at and natural_at < math.inf:  # (a chain waiting forever never ends)
        expires_at = natural_at if natural_status == "expired" else None
        return Snapshot(
            natural_status,
            started_at,
            natural_at,
            expires_at,
            expired_by,
            None,
            None,
            rounds_asked,
            seen,
        )
    if now < segment_start:
        return Snapshot(
            "queued", started_at, None, run_deadline, None, None, None, rounds_asked, seen
        )
    if pending is not None and asks[-1] <= now:
        # While an action waits, expires_at says when the run expires if nobody answers.
        deadline = None if t.action_expiry_s is None else asks[-1] + t.action_expiry_s
        if run_deadline is not None:
            deadline = run_deadline if deadline is None else min(deadline, run_deadline)
        return Snapshot(
            "requires_action",
            started_at,
            None,
            deadline,
            None,
            pending,
            asks[-1],
            rounds_asked,
            seen,
        )
    return Snapshot(
        "in_progress", started_at, None, run_deadline, None, None, None, rounds_asked, seen
    )


def observe(job: JobRecord, snap: Snapshot, now: float, *, check: bool) -> None:
    """Note that a client saw ``snap`` at ``now`` (``check``: it was a retrieve)."""
    if check:
        job.checks += 1
    if snap.terminal and job.terminal_seen_at is None and snap.terminal_at is not None:
        job.terminal_seen_at = now
        job.terminal_lag_s = max(0.0, now - snap.terminal_at)
    if snap.pending_round is not None and snap.asked_at is not None:
        job.action_lags_s.setdefault(snap.pending_round, max(0.0, now - snap.asked_at))
