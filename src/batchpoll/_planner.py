"""``Planner``: when to check each job next, which due job a token goes to, and how much of the
budget waiting creates may take, decided over a frozen ``Load`` snapshot of the engine.

The planner owns what it learns (a duration model per class of job, the action window of tool
runs) and nothing else: the heap, the budget and the live jobs stay the engine's, which hands
over a ``Load`` with the few numbers a decision reads. So every rule here is tested with plain
numbers (``tests/core/test_planner.py``), like ``_policy``'s arithmetic underneath it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, cast

from ._actionwindow import ActionWindow
from ._classes import PROBE_LAG_FACTOR, Explore, hint_prior_s, kind_wide
from ._heap import DueHeap
from ._hints import WebhookSettings
from ._lagcap import lag_scale
from ._learn import DurationModel
from ._policy import JobTiming, PollSettings, next_check_delay
from ._record import CHECK, Record
from ._replan import Refresh, move, policy_due
from ._retention import retention_gap
from ._survival import EDGE_BOUNDS
from .kinds import JobKind, Snapshot

__all__ = ["Load", "Planner", "idle_quota", "saturated"]

# The budget counts as saturated when the earliest due check is this late.
_SATURATED_LAG_S = 1.0
# Waiting creates take their share of the tokens (PollSettings.create_share) only while the
# jobs in flight can spare them: no due check is later than this (5 s left a Responses bulk
# run's last creates waiting behind chains: 1.18 x its bound, 1.06-1.07 x at 10 s; Assistants
# runs with a 20 s action window: 0 expired at both, 300 and 1,000 items, virtual time) ...
_SHARE_MAX_LAG_S = 10.0
# ... and the jobs on the server are at most this many seconds of the budget, one request
# each (more, and their checks alone fill the budget: a tool run could wait until it expires).
_SHARE_IN_FLIGHT_S = 15.0
# The quota counts as idle while the jobs on the server are at most this share of a second of
# the budget (each could be checked every second within half of it).
_IDLE_SHARE = 0.5


class Load(NamedTuple):
    """The engine at one instant, as far as a decision needs it: immutable, and a tuple
    because one is made per scheduled check (a frozen dataclass cost twice as much)."""

    now: float  # the poller's clock
    wall: float  # Unix time (for a run's ``expires_at``)
    head_due: float | None  # the earliest due time in the heap
    on_server: int  # jobs that exist on the server (not those still waiting to be created)
    rate_per_s: float  # the budget's current rate
    creates_waiting: bool  # new work waits for the budget

    @property
    def saturated(self) -> bool:
        return saturated(self.now, self.head_due)


def idle_quota(load: Load) -> bool:
    """The budget has room to spare: no create waits, no check is late, and every job on the
    server could be checked each second within half the budget's rate."""
    return (
        not load.creates_waiting
        and not load.saturated
        and load.on_server <= _IDLE_SHARE * load.rate_per_s
    )


def saturated(now: float, head_due: float | None) -> bool:
    """Checks are waiting for the budget: the earliest due job is overdue."""
    return head_due is not None and now - head_due > _SATURATED_LAG_S


class Planner:
    """The learned schedule of one poller. ``tools``: whether the poller answers tool calls
    (only then can a run wait for them, and expire)."""

    def __init__(
        self,
        poll: PollSettings,
        *,
        tools: bool,
        webhooks: WebhookSettings | None,
        uniform: Callable[[], float],
        shared_budget: bool = False,
    ) -> None:
        self.poll = poll
        # Spare quota buys lag only when asked, and never from a budget other processes share.
        self._idle_weight = None if shared_budget else poll.idle_lag_weight
        self.actions = ActionWindow(poll.action_window_s)
        self._tools = tools
        self._webhooks = webhooks
        self._uniform = uniform
        self._models: dict[str, DurationModel] = {}
        self._refresh: dict[str, Refresh] = {}  # by class key
        self._due: set[str] = set()  # classes due a refresh
        self._explore = Explore()
        # The knob's lag weight is scaled by this where the plans would be slower than the
        # seed loop (``_lagcap``); 1 until the classes are trained.
        self._lag_scale = 1.0
        self._kind_polls: dict[Any, PollSettings] = {}  # by KindTiming (kinds with their own)

    def poll_of(self, kind: JobKind) -> PollSettings:
        """The check settings of ``kind``: the poller's, or its own ``KindTiming``'s (long
        jobs: a batch is checked on a schedule of minutes, not seconds)."""
        timing = getattr(kind, "timing", None)
        if timing is None:
            return self.poll
        settings = self._kind_polls.get(timing)
        if settings is None:
            settings = self._kind_polls[timing] = timing.poll(self.poll)
        return cast(PollSettings, settings)

    def next_delay(self, job: Record, load: Load, *, pushed: bool) -> float:
        """Seconds until ``job``'s next check. ``pushed``: its kind has events (webhooks on),
        so it is polled only as a safety net."""
        poll = self.poll_of(job.kind)
        safety = None
        if self._webhooks is not None and pushed:
            safety = self._webhooks.safety_interval_s
            if poll is not self.poll:  # a long kind's net is no tighter than its longest gap
                safety = max(safety, poll.max_interval_s)
        x = job.extras
        to_expiry = None if x.expires_at is None else x.expires_at - load.wall
        now = load.now
        timing = JobTiming(
            max_gap_s=self.max_gap(job),
            age_s=now - job.origin_at,
            checks=job.checks_since_origin,
            resumed=x.resumed,
            error_streak=x.error_streak,
            poll_after_s=x.poll_after_s,
            retry_after_s=x.retry_after_s,
            to_deadline_s=None if job.deadline is None else job.deadline - now,
            to_expiry_s=to_expiry,
            planned_age_s=None if safety is not None else self.planned_age(job, load),
            safety_interval_s=safety,
        )
        fair = 0.0
        if saturated(now, load.head_due):  # load.saturated, without the property's call
            # Fair share while checks queue up: with N jobs in flight and R requests/s no job
            # is checked more often than every N/R seconds, so checks do not crowd each other
            # out. Below saturation there is no floor: an idle slot spent on a check is free.
            fair = self.poll.fair_share * load.on_server / max(load.rate_per_s, 1e-9)
        return next_check_delay(timing, poll, self._uniform, fair_spacing_s=fair)

    def model(self, job: Record) -> DurationModel | None:
        """The duration model of ``job``'s class (a resumed job's age is not its duration:
        those learn apart); None when the schedule is not learned."""
        x = job.extras
        klass = x.klass
        if klass is None or self.poll.strategy != "learned":
            return None
        key = f"{klass}|resumed" if x.resumed else klass
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = self._new_model(job, key)
        return model

    def _new_model(self, job: Record, key: str) -> DurationModel:
        """A class's model, shrunk toward its kind-wide one (``_classes``)."""
        poll = self.poll_of(job.kind)
        timing = getattr(job.kind, "timing", None)
        parent = None
        kind_key = kind_wide(key)
        hinted = hint_prior_s(key)
        if hinted is not None:  # the user's hint is the prior, not the kind's estimate
            return DurationModel(
                prior_median_s=hinted,
                lag_weight=poll.lag_weight,
                min_interval_s=poll.min_interval_s,
                max_interval_s=poll.max_interval_s,
            )
        if kind_key != key:
            parent = self._models.get(kind_key)
            if parent is None:
                parent = self._models[kind_key] = self._new_model(job, kind_key)
        return DurationModel(
            prior_median_s=poll.first_check_s if timing is None else timing.prior_median_s,
            prior_sigma=0.8 if timing is None else timing.prior_sigma,
            lag_weight=poll.lag_weight,
            min_interval_s=poll.min_interval_s,
            max_interval_s=poll.max_interval_s,
            parent=parent,
        )

    def planned_age(self, job: Record, load: Load) -> float | None:
        model = self.model(job)
        if model is None or job.extras.error_streak:
            return None
        weight = None
        long_kind = getattr(job.kind, "timing", None) is not None  # batches: no probes
        if not long_kind and self._explore.probe(job, model):  # a cold class's probe
            weight = model.lag_weight * PROBE_LAG_FACTOR
        else:
            weight = self.plain_weight(job.kind, load)
        return model.next_age(job.last_age, weight)

    def plain_weight(self, kind: JobKind, load: Load) -> float | None:
        """The lag weight a job's plan follows now (None: the knob's)."""
        if load.creates_waiting:
            # New work is waiting for the budget: a check that finds the job still running
            # delays a create, so lag is worth less than usual.
            return self.poll_of(kind).busy_lag_weight
        idle = self._idle_weight
        if idle is not None and getattr(kind, "timing", None) is None and idle_quota(load):
            return idle  # opted in (PollSettings.idle_lag_weight): spare requests buy lag
        if self._lag_scale != 1.0 and getattr(kind, "timing", None) is None:
            return self.poll_of(kind).lag_weight * self._lag_scale
        return None

    def refresh(
        self,
        live: Iterable[Record],
        heap: DueHeap[Record],
        load: Load,
        pushed: Callable[[Record], bool],
    ) -> int:
        """Refresh the classes due one (their running jobs right-censored) and re-plan the
        waiting jobs of each whose model moved (``_replan``). Returns the jobs moved."""
        due, self._due = self._due, set()
        if not due:
            return 0
        # A kind-wide model learns from every job of its kind: refreshed with any of them.
        due |= {kind_wide(key) for key in due}
        running: dict[str, dict[int, float]] = {key: {} for key in due}
        in_flight: dict[str, int] = dict.fromkeys(due, 0)
        jobs_of: dict[str, list[Record]] = {}
        # Per class key met: its running-count targets and its job list (None: not due).
        targets: dict[str | None, tuple[tuple[str, ...], list[Record]] | None] = {None: None}
        for job in live:
            x = job.extras
            klass = x.klass
            key = f"{klass}|resumed" if x.resumed and klass is not None else klass
            if key in targets:
                target = targets[key]
            elif key is not None:
                keys = tuple(k for k in dict.fromkeys((key, kind_wide(key))) if k in due)
                target = targets[key] = (keys, jobs_of.setdefault(key, [])) if keys else None
            else:  # (None is in targets: for mypy)
                continue
            if target is None:
                continue
            keys, group = target
            group.append(job)
            if x.action == CHECK:
                b = bisect_right(EDGE_BOUNDS, job.last_age)  # _survival.edge_of, inlined
                for k in keys:
                    bins = running[k]
                    bins[b] = bins.get(b, 0.0) + 1.0
                    in_flight[k] += 1
        moved_keys = set()
        # Kind-wide models first (a class's prior is its kind's estimate); a fixed order, so
        # that a run is the same run whatever the hash seed.
        for key in sorted(due, key=lambda k: (k != kind_wide(k), k)):
            model = self._models.get(key)
            if model is not None and model.refit(running[key]):
                moved_keys.add(key)
            refresh = self._refresh.get(key)
            if refresh is not None:
                refresh.done(in_flight[key])
        if not moved_keys:
            return 0
        if self.poll.lag_ceiling is not None:
            scale = lag_scale(self._models, self.poll.lag_weight, self.poll.lag_ceiling)
            if abs(scale - self._lag_scale) > 1e-9:
                self._lag_scale = scale
                moved_keys |= set(jobs_of)
        now = load.now

        # The plan each moved class now follows (a probe's is its own, asked per job). A
        # moved kind-wide model moves the plans of its classes too (it is their prior).
        webhooks = self._webhooks is not None
        fair = 0.0
        if load.saturated:  # as in next_delay
            fair = self.poll.fair_share * load.on_server / max(load.rate_per_s, 1e-9)
        due_of = policy_due(now, load.wall, fair, self._uniform, self.poll_of, self._action_gap_of)

        moved = 0
        for key in sorted(jobs_of):  # (the live jobs come in creation order: a fixed order)
            if key not in moved_keys and kind_wide(key) not in moved_keys:
                continue
            model = self._models.get(key)
            if model is None:
                continue
            next_age = model.schedule(self.plain_weight(jobs_of[key][0].kind, load)).next_age
            planned_due: Callable[[Record], float | None]
            if model.trained and not webhooks:  # the common case, a plain expression

                def planned_due(
                    job: Record, next_age: Callable[[float], float] = next_age
                ) -> float:
                    return job.origin_at + next_age(job.last_age)

            else:

                def planned_due(
                    job: Record,
                    model: DurationModel = model,
                    next_age: Callable[[float], float] = next_age,
                ) -> float | None:
                    if webhooks and pushed(job):
                        return None
                    if not model.trained:
                        age = self.planned_age(job, load)
                        return None if age is None else job.origin_at + age
                    return job.origin_at + next_age(job.last_age)

            moved += move(jobs_of[key], heap, now, planned_due, due_of)
        return moved

    @staticmethod
    def _key(job: Record) -> str:
        x = job.extras
        return f"{x.klass}|resumed" if x.resumed else str(x.klass)

    def learn(self, job: Record, snapshot: Snapshot, age: float, *, hinted: bool = False) -> bool:
        """A check that sees a change (done, or asking for tools) brackets the duration.
        Not a check a push asked for: its time depends on the duration itself, and such
        intervals would bias the model (it only learns from checks made blind). True when
        the class is due a refresh (the engine then calls ``refresh``)."""
        model = self.model(job)
        if model is None:
            job.last_age = age
            return False
        if (snapshot.terminal or snapshot.status == "requires_action") and not hinted:
            model.observe(job.last_age, age)
        job.last_age = age
        key = self._key(job)
        refresh = self._refresh.get(key)
        if refresh is None:
            refresh = self._refresh[key] = Refresh()
        if refresh.seen():
            self._due.add(key)
            return True
        return False

    def learn_action_window(self, remaining_s: float) -> float | None:
        """A run asked for tools with ``remaining_s`` until it expires. Returns the check gap
        the window now allows when this made it known for the first time (the engine then
        pulls every job due later forward), else None."""
        known = self.actions.window_s is not None
        self.actions.observe(remaining_s)
        gap = self.actions.max_gap_s()
        return gap if not known and gap is not None and self._tools else None

    def chance_done(self, job: Record, now: float) -> float | None:
        """How likely a check of ``job`` now finds something to act on (for ordering);
        None when nothing is known (no trained model for its class)."""
        x = job.extras
        if x.action != CHECK or x.hinted:
            return 2.0  # a retried submit or fetch, or a pushed "done": necessary work
        if self.action_gap(job) is not None and self.actions.at_risk(
            now - job.origin_at - job.last_age
        ):
            return 1.5  # may be waiting for tools, unchecked for its share of the window
        model = self.model(job)
        if model is None or not model.trained:
            return None
        return model.chance_done(job.last_age, now - job.origin_at)

    def max_gap(self, job: Record) -> float | None:
        """The longest check gap ``job`` can afford: its run's action window, or the
        retention of a response that was not stored (``_retention``)."""
        action = self._action_gap_of(job.kind)
        kept = retention_gap(job.kind.name, job.extras.params)
        if action is None or kept is None:
            return kept if action is None else action
        return min(action, kept)

    def action_gap(self, job: Record) -> float | None:
        """The cap on a job's check gap that keeps a tool run from expiring (``_actionwindow``):
        for runs that may ask for tools (not chains: a completed response does not expire)."""
        return self._action_gap_of(job.kind)

    def _action_gap_of(self, kind: JobKind) -> float | None:
        if kind.chained or not self._tools:
            return None
        return self.actions.max_gap_s()

    def create_share(self, load: Load) -> float:
        """The share of contested tokens that waiting creates may take now (see
        ``PollSettings.create_share``)."""
        share = self.poll.create_share
        if share <= 0:
            return 0.0
        max_lag = _SHARE_MAX_LAG_S
        gap = self.actions.max_gap_s() if self._tools else None
        if gap is not None:  # runs may wait for tools: checks must not fall that far behind
            max_lag = min(max_lag, gap / 2)
        if load.head_due is not None and load.now - load.head_due > max_lag:
            return 0.0
        if load.on_server > _SHARE_IN_FLIGHT_S * load.rate_per_s:
            return 0.0
        return share
