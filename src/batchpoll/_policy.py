"""When to check a job next: settings and one pure function.

Nothing here reads a clock or does I/O: the scheduler passes the job's timing in and gets a
delay back, so the whole policy is tested with plain numbers (and hypothesis).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._backoff import backoff_s
from ._budget import Budget
from ._errors import ConfigurationError

__all__ = [
    "JobTiming",
    "PollSettings",
    "next_check_delay",
    "retry_delay",
    "shared_budget",
]


@dataclass(frozen=True, slots=True)
class PollSettings:
    """How a job is checked. Every duration is in seconds.

    ``strategy="learned"`` (the default) learns the duration distribution of each job class
    online and checks at the ages that minimise ``checks + lag_weight × lag`` (see
    docs/schedule.md; a cold class is explored by a few probes and re-planned as it learns).
    With ``strategy="backoff"`` it checks ``first_check_s`` after creation (a check right after
    create always says ``queued``), then every ``growth`` × the job's age, clamped to
    ``[min_interval_s, max_interval_s]``: a geometric backoff whose step follows the job's own
    age, so short and long jobs both get a few checks, not dozens.
    """

    strategy: Literal["learned", "backoff"] = "learned"
    lag_weight: float = 2.0  # learned: one second of detection lag is worth this many checks
    busy_lag_weight: float = 0.1  # the same while creates wait for the budget (bulk runs)
    # Opt-in: the lag weight while the quota is idle (no create waits, no check is late, and
    # every job on the server could be checked each second within half the budget's rate):
    # spare requests then buy lag. None (the default): spare quota is never spent on extra
    # checks. A budget shared with other processes (``shared``, e.g. a RedisBudget) never
    # does it, nor do kinds with their own timing (batches, fine-tuning).
    idle_lag_weight: float | None = None
    # Never slower than the tutorial: once classes are trained, the lag weight is scaled up
    # (one scale for all) until the plans' mean lag is at most this many times the seed
    # loop's (a check at create, then 0.5 s x1.5, capped at 5 s) on the same fitted
    # durations (docs/schedule.md). None: the lag weight alone.
    lag_ceiling: float | None = 0.95
    first_check_s: float = 6.0
    growth: float = 0.3
    min_interval_s: float = 0.25
    max_interval_s: float = 30.0
    after_submit_s: float = 2.0  # first check after tool outputs were submitted
    jitter: float = 0.1  # ± this fraction, to keep checks of jobs created together apart
    timeout_s: float | None = 3600.0  # overall deadline per job, from its creation
    cancel_on_timeout: bool = True
    retry_base_s: float = 0.5  # backoff after a transient error (5xx, connection, timeout)
    retry_max_s: float = 30.0
    honor_poll_after: bool = True  # obey the server's openai-poll-after-ms on every response
    expiry_grace_s: float = 1.0  # check this long after a run's expires_at to see it expired
    # While checks queue for the budget, a job waits at least fair_share × its share of the
    # budget (jobs in flight × 60 / rpm) between checks. 0 turns the floor off.
    fair_share: float = 0.5
    # While creates wait (a bulk job), they take this share of the tokens checks and fetches
    # would get, as long as no due check is more than ~10 s late and the jobs on the server
    # are at most ~15 s of the budget; else creates only get the tokens nobody else wants.
    # Starting the last items sooner keeps a long job created last from being the tail.
    # 0: strict priority.
    create_share: float = 0.5
    # A create that failed after it may have reached the server: "auto" sends it again when
    # the server answered with its own error (a 5xx with an error body: it most likely made
    # nothing) and reports a lost reply (a timeout, a reset: anything may exist); "retry" sends
    # both again, "report" neither (the job ends 'create_uncertain'). A job created by a retry
    # says so (Outcome.retried_ambiguous_create): a possible duplicate is never silent.
    ambiguous_creates: Literal["auto", "retry", "report"] = "auto"
    # How long a run waits for tool outputs before it expires; None: learned from the runs'
    # expires_at. Runs that may ask are checked at least every 0.4 x this (_actionwindow).
    action_window_s: float | None = None

    def __post_init__(self) -> None:
        if self.first_check_s < 0 or self.after_submit_s < 0:
            raise ConfigurationError("first_check_s and after_submit_s must be >= 0")
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ConfigurationError("need 0 < min_interval_s <= max_interval_s")
        if self.strategy not in ("learned", "backoff"):
            raise ConfigurationError("strategy must be 'learned' or 'backoff'")
        if self.lag_weight <= 0 or self.busy_lag_weight <= 0:
            raise ConfigurationError("lag_weight and busy_lag_weight must be > 0")
        if self.idle_lag_weight is not None and not self.idle_lag_weight > 0:
            raise ConfigurationError("idle_lag_weight must be > 0 or None")
        if self.lag_ceiling is not None and not self.lag_ceiling > 0:
            raise ConfigurationError("lag_ceiling must be > 0 or None")
        if self.fair_share < 0:
            raise ConfigurationError("fair_share must be >= 0")
        if not 0 <= self.create_share <= 1:
            raise ConfigurationError("create_share must be in [0, 1]")
        if self.action_window_s is not None and self.action_window_s <= 0:
            raise ConfigurationError("action_window_s must be > 0 or None")
        if self.ambiguous_creates not in ("auto", "retry", "report"):
            raise ConfigurationError("ambiguous_creates must be 'auto', 'retry' or 'report'")
        if self.growth <= 0:
            raise ConfigurationError("growth must be > 0")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError("jitter must be in [0, 1)")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise ConfigurationError("timeout_s must be > 0 or None")
        if not 0 < self.retry_base_s <= self.retry_max_s:
            raise ConfigurationError("need 0 < retry_base_s <= retry_max_s")


@dataclass(slots=True)
class JobTiming:
    """What the policy needs to know about one job, as plain numbers (seconds). Built once
    per check and per re-planned job, so not frozen: a frozen dataclass sets each of its
    fields through ``object.__setattr__``, several times slower (treat it as immutable)."""

    age_s: float  # since creation, or since the last tool-output submit
    checks: int  # checks since that same origin
    resumed: bool = False  # the origin is a tool-output submit, not the creation
    error_streak: int = 0  # consecutive transient failures of the last request
    poll_after_s: float | None = None  # the server's latest openai-poll-after-ms
    retry_after_s: float | None = None  # the server's retry-after on the last failure
    to_deadline_s: float | None = None  # until our overall deadline
    to_expiry_s: float | None = None  # until the run's expires_at
    planned_age_s: float | None = None  # the learned schedule's next check age, when trained
    # Webhooks are on for this job's kind: checks are only the safety net, this far apart.
    safety_interval_s: float | None = None
    # The longest gap allowed between checks (a run that may ask for tools: its action window).
    max_gap_s: float | None = None


def shared_budget(*budgets: object) -> bool:
    """Whether any of ``budgets`` is shared with other processes: its ``shared`` attribute,
    else any budget but the in-process ``Budget`` itself counts as shared (a RedisBudget):
    spare quota is spent on extra checks only from a budget known to be this process's."""
    for budget in budgets:
        shared = getattr(budget, "shared", None)
        if shared is None:
            shared = type(budget) is not Budget
        if shared:
            return True
    return False


def retry_delay(streak: int, settings: PollSettings, uniform: Callable[[], float]) -> float:
    """The poller's backoff (``_backoff``) after ``streak`` failures in a row."""
    return backoff_s(
        streak, base_s=settings.retry_base_s, max_s=settings.retry_max_s, uniform=uniform
    )


def next_check_delay(
    timing: JobTiming,
    settings: PollSettings,
    uniform: Callable[[], float],
    *,
    fair_spacing_s: float = 0.0,
) -> float:
    """Seconds from now until the job's next check.

    ``uniform`` returns floats in [0, 1) (inject ``random.Random(seed).random`` in tests).
    ``fair_spacing_s`` is the scheduler's floor when the budget is shared by many jobs
    (jobs in flight × 60 / rpm): no job may take more than its share of the checks.
    """
    if timing.error_streak > 0:
        delay = retry_delay(timing.error_streak, settings, uniform)
        if timing.max_gap_s is not None:
            # A run that may wait for tools: a storm of 5xx must not eat its window in backoff.
            delay = min(delay, timing.max_gap_s / 4)
        if timing.retry_after_s is not None:
            delay = max(delay, timing.retry_after_s)
    else:
        if timing.safety_interval_s is not None:
            # A push says when the job is done; checks only catch lost events.
            delay = timing.safety_interval_s
            if timing.checks == 0:
                delay -= timing.age_s
        elif timing.planned_age_s is not None:
            delay = timing.planned_age_s - timing.age_s
            delay = min(settings.max_interval_s, max(settings.min_interval_s, delay))
        elif timing.checks == 0:
            first = settings.after_submit_s if timing.resumed else settings.first_check_s
            delay = first - timing.age_s
        else:
            delay = settings.growth * timing.age_s
            delay = min(settings.max_interval_s, max(settings.min_interval_s, delay))
        # The learned schedule is already optimal per job: only a touch of jitter, to keep
        # jobs created together apart.
        jitter = settings.jitter * (0.25 if timing.planned_age_s is not None else 1.0)
        delay *= 1.0 + jitter * (2.0 * uniform() - 1.0)
        if settings.honor_poll_after and timing.poll_after_s is not None:
            delay = max(delay, timing.poll_after_s)
        delay = max(delay, fair_spacing_s)
    if timing.max_gap_s is not None:  # a run's tools wait: backoff and spacing give way
        delay = min(delay, timing.max_gap_s)
    if timing.to_expiry_s is not None and timing.to_expiry_s >= 0:
        # A run that expires changes state without anyone acting: look right after.
        delay = min(delay, timing.to_expiry_s + settings.expiry_grace_s)
    if timing.to_deadline_s is not None:
        delay = min(delay, timing.to_deadline_s)
    return max(0.0, delay)
