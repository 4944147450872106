"""The state under ``Poller``: jobs in flight, the due-time heap, the budgets, the duration
models, and the arithmetic that turns them into the next check time. Waiting jobs cost one
heap entry each, no task and no sleep. The loop and the job steps live in ``_steps``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from openai import AsyncOpenAI

from ._actionwindow import GAP_SHARE, ActionWindow, pull_forward
from ._budget import Budget, BudgetSettings, Priority, Ticket
from ._charger import CLASS_OF, Charger
from ._clock import Clock, LoopClock
from ._errors import (
    AuthenticationFailedError,
    ConfigurationError,
    PollerClosedError,
    QuotaExhaustedError,
)
from ._errors_map import Failure, FailureKind
from ._headers import poll_after_hint_s
from ._heap import DueHeap
from ._hints import PendingHints, WebhookSettings
from ._job import CHECK, Job
from ._learn import DurationModel
from ._log import log
from ._outcome import ErrorInfo, Outcome, Status
from ._policy import JobTiming, PollSettings, next_check_delay
from ._tokens import TokenBudget, TokenSettings, TokenStats
from ._tools import ToolSettings
from ._toolspec import Tool, ToolsArg, as_tools
from .kinds import AssistantsRuns, Ids, JobKind, Reply, ResponsesJobs, Snapshot

__all__ = ["ASSISTANTS", "RESPONSES", "EngineCore", "PollerStats"]

T = TypeVar("T")

ASSISTANTS: JobKind = AssistantsRuns()
RESPONSES: JobKind = ResponsesJobs()
# A job due within this much is due now: sleeping for less than a clock tick would spin (a
# quantized virtual clock may not move at all), and checking a millisecond early costs nothing.
_EARLY_S = 1e-3
# The due time of a retried tool-output submit once its backoff passed: before every check.
_URGENT_DUE = float("-inf")
# The budget counts as saturated when the earliest due check is this late.
_SATURATED_LAG_S = 1.0
# How many due jobs the value-aware pick looks at (the earliest due ones).
_PICK_AMONG = 8
# Waiting creates take their share of the tokens (PollSettings.create_share) only while the
# jobs in flight can spare them: no due check is later than this (5 s left a Responses bulk
# run's last creates waiting behind chains: 1.18 x its bound, 1.06-1.07 x at 10 s; Assistants
# runs with a 20 s action window: 0 expired at both, 300 and 1,000 items, virtual time) ...
_SHARE_MAX_LAG_S = 10.0
# ... and the jobs on the server are at most this many seconds of the budget, one request
# each (more, and their checks alone fill the budget: a tool run could wait until it expires).
_SHARE_IN_FLIGHT_S = 15.0


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


class EngineCore:
    """State, bookkeeping and scheduling arithmetic under ``Poller`` (see its docstring for
    the arguments); the loop and the job steps are in ``_steps.Engine``."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        rpm: float | None = None,
        budget: Budget | None = None,
        budgets: Mapping[str, Budget] | None = None,
        tpm: float | None = None,
        tokens: TokenBudget | None = None,
        tools: ToolsArg | None = None,
        poll: PollSettings | None = None,
        tool_settings: ToolSettings | None = None,
        max_concurrency: int = 256,
        max_in_flight: int | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        webhooks: WebhookSettings | None = None,
    ) -> None:
        if budget is None:
            if rpm is None:
                raise ConfigurationError(
                    "give rpm= (your account's requests per minute) or budget="
                )
            budget = Budget(BudgetSettings(rpm))
        unknown = set(budgets or {}) - set(CLASS_OF.values())
        if unknown:
            raise ConfigurationError(f"unknown request classes in budgets: {sorted(unknown)}")
        if max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be >= 1")
        if max_in_flight is not None and max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be >= 1")
        self.client = client.with_options(max_retries=0)
        self.budget = budget
        self.clock: Clock = clock or LoopClock()
        if tokens is None and tpm is not None:
            tokens = TokenBudget(TokenSettings(tpm), clock=self.clock)
        self.tokens = tokens
        self.charger = Charger(budget, budgets or {}, tokens)
        self.tools: dict[str, Tool] = as_tools(tools)
        self._tool_specs: tuple[Tool, ...] = tuple(self.tools.values())
        self.poll = poll or PollSettings()
        self.tool_settings = tool_settings or ToolSettings()
        self._uniform = random.Random(seed).random
        self._max_concurrency = max_concurrency
        self._heap: DueHeap[Job] = DueHeap()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()  # the scheduler and the running steps
        self._running = False
        self._scheduler_task: asyncio.Task[None] | None = None
        self._slots = asyncio.Semaphore(max_concurrency)
        self._fatal: AuthenticationFailedError | QuotaExhaustedError | None = None
        self._closed = False
        self._live: set[Job] = set()
        self._max_in_flight = max_in_flight
        self._room = asyncio.Event()  # set when a live job ends: a waiting create may go
        self._idle = asyncio.Event()
        self._idle.set()
        self._n = {"created": 0, "done": 0, "checks": 0, "hints": 0, "hints_matched": 0}
        self._by_status: dict[str, int] = {}
        self._seq = 0
        self._models: dict[str, DurationModel] = {}
        self._kind_polls: dict[Any, PollSettings] = {}  # by KindTiming (kinds with their own)
        self.webhooks = webhooks
        hint_settings = webhooks or WebhookSettings()
        self._pending_hints = PendingHints(hint_settings.pending_ttl_s, hint_settings.max_pending)
        self._by_push_key: dict[str, Job] = {}
        self._creating = 0  # live jobs whose create has not been answered yet
        self._actions = ActionWindow(self.poll.action_window_s)
        if budget.create_share is None:  # a budget shared by pollers follows the first
            budget.create_share = self._create_share

    # --- internals: bookkeeping ---------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if not self._running or self._closed:
            raise PollerClosedError("use the poller inside 'async with Poller(...)'")

    async def _wait_for_room(self) -> None:
        """``max_in_flight``: a create waits while that many jobs are live (created or being
        created, tracked, not done). FIFO enough: waiters wake in order and re-check."""
        while self._max_in_flight is not None and len(self._live) >= self._max_in_flight:
            self._room.clear()
            await self._room.wait()
            self._ensure_open()

    def _tg_start(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        # Plain asyncio tasks: a check's task is the hottest allocation of the scheduler.
        task = asyncio.get_running_loop().create_task(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _new_job(self, kind: JobKind, ids: Ids, key: str | None) -> Job:
        self._seq += 1
        now = self.clock.now()
        timeout = self._poll_of(kind).timeout_s
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        job = Job(
            key if key is not None else f"job-{self._seq}",
            kind,
            ids,
            created_at=now,
            deadline=now + timeout if timeout is not None else None,
            future=future,
        )
        self._live.add(job)
        self._idle.clear()
        return job

    def _finish(
        self,
        job: Job,
        status: Status,
        *,
        output_text: str | None = None,
        error: ErrorInfo | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> None:
        if job.done():
            return
        self._heap.discard(job)
        outcome = Outcome(
            key=job.key,
            kind=job.kind.name,
            status=status,
            output_text=output_text,
            ids=dict(job.ids),
            error=error,
            checks=job.checks,
            requests=job.requests,
            elapsed_s=self.clock.now() - job.created_at,
            response_ids=tuple(job.chain or ()),
            tool_rounds=job.rounds,
            usage=job.usage,
            retried_ambiguous_create=job.retried_ambiguous,
            result=result,
        )
        job._future.set_result(outcome)
        self._live.discard(job)
        self._room.set()
        key = self._push_key(job)
        if key is not None and self._by_push_key.get(key) is job:
            del self._by_push_key[key]
        self._n["done"] += 1
        self._by_status[status.value] = self._by_status.get(status.value, 0) + 1
        log.info(
            "batchpoll.job.finished",
            job=job.key,
            status=status.value,
            checks=job.checks,
            requests=job.requests,
            error=error.type if error else None,
        )
        if not self._live:
            self._idle.set()

    def _abort_all(self, error: ErrorInfo) -> None:
        for job in list(self._live):
            self._finish(job, Status.ERROR, error=error)

    def _poll_of(self, kind: JobKind) -> PollSettings:
        """The check settings of ``kind``: the poller's, or its own ``KindTiming``'s (long
        jobs: a batch is checked on a schedule of minutes, not seconds)."""
        timing = getattr(kind, "timing", None)
        if timing is None:
            return self.poll
        settings = self._kind_polls.get(timing)
        if settings is None:
            settings = self._kind_polls[timing] = timing.poll(self.poll)
        return cast(PollSettings, settings)

    def _past_deadline(self, job: Job) -> bool:
        return job.deadline is not None and self.clock.now() >= job.deadline

    def _on_failure(self, exc: Exception, job: Job | None = None) -> Failure:
        """A failed attempt: the budgets react (``Charger``); a rejected key or an exhausted
        quota stops everything, since no request can succeed."""
        model = None if job is None else job.model
        failure = self.charger.on_failure(exc, model=model)
        if failure.kind is FailureKind.FATAL and self._fatal is None:
            message = failure.error.message
            if failure.error.type == "insufficient_quota":
                self._fatal = QuotaExhaustedError(f"the account is out of quota: {message}")
            else:
                self._fatal = AuthenticationFailedError(f"the API rejected the key: {message}")
            log.error("batchpoll.poller.auth_failed", error=failure.error.type, message=message)
            self._abort_all(failure.error)
        return failure

    async def _request(
        self,
        job: Job,
        priority: Priority,
        call: Callable[[], Awaitable[Reply[T]]],
        *,
        paid: Ticket | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Reply[T]:
        """One HTTP attempt of a job, charged to the budget(s) (``paid``: the main budget's
        token is already held; ``body``: a prompt-carrying request, charged its tokens)."""

        async def attempt() -> Reply[T]:  # counted once it has its tokens and its turn
            job.requests += 1
            return await call()

        reply = await self.charger.request(priority, attempt, paid=paid, body=body, model=job.model)
        job.poll_after_s = poll_after_hint_s(reply.headers)
        return reply

    # --- internals: push hints ----------------------------------------------------------

    def _push_key(self, job: Job) -> str | None:
        """The server id that OpenAI's events name for this job, when its kind has events."""
        key_of = getattr(job.kind, "webhook_key", None)
        return None if key_of is None else cast("str | None", key_of(job.ids))

    def _register(self, job: Job) -> bool:
        """Index a job that now has its server ids; True when a hint was already waiting."""
        key = self._push_key(job)
        if key is None:
            return False
        self._by_push_key[key] = job
        if self._pending_hints.take(key, self.clock.now()):
            job.hinted = True
            self._n["hints_matched"] += 1
            log.debug("batchpoll.webhook.matched_late", job=job.key)
            return True
        return False

    def _rekey(self, job: Job, ids: Ids) -> None:
        """The job continues as a new server object (the next response of a chain)."""
        old = self._push_key(job)
        if old is not None and self._by_push_key.get(old) is job:
            del self._by_push_key[old]
        job.ids = ids
        if job.chain is not None:
            job.chain.append("/".join(ids.values()))
        job.usage_due = True
        if self._register(job):
            job.hinted = True

    def _hint(self, server_id: str) -> bool:
        self._n["hints"] += 1
        job = self._by_push_key.get(server_id)
        if job is None:
            self._pending_hints.add(server_id, self.clock.now())
            return False
        if job.done():
            return False
        self._n["hints_matched"] += 1
        job.hinted = True
        if job.heap_seq >= 0 and job.action == CHECK:
            self._schedule(job, 0.0)
        # Else a check is under way: if it still sees the job running, the next one is at once.
        return True

    # --- internals: the scheduler -------------------------------------------------------

    def _schedule(self, job: Job, delay: float | None = None) -> None:
        now = self.clock.now()
        if delay is None:
            delay = self._next_delay(job, now)
        due = now + delay
        head = self._heap.next_due()
        self._heap.push(job, due)
        job.due = due
        if head is None or due < head:
            self._wake.set()

    def _schedule_urgent(self, job: Job, delay: float) -> None:
        """A retried tool-output submit: due after its backoff, then ahead of every check (a
        submit behind a backlog of late checks would let the run expire)."""

        def due() -> None:
            if not job.done() and job.heap_seq < 0:
                self._heap.push(job, _URGENT_DUE)
                job.due = _URGENT_DUE
                self._wake.set()

        asyncio.get_running_loop().call_later(delay, due)

    def _learn_action_window(self, remaining_s: float) -> None:
        known = self._actions.window_s is not None
        self._actions.observe(remaining_s)
        gap = self._actions.max_gap_s()
        if not known and gap is not None and self.tools:
            moved = pull_forward(self._live, self._heap, gap)
            log.info(
                "batchpoll.schedule.action_window", window_s=round(gap / GAP_SHARE, 1), moved=moved
            )
            self._wake.set()

    def _next_delay(self, job: Job, now: float) -> float:
        poll = self._poll_of(job.kind)
        safety = None
        if self.webhooks is not None and self._push_key(job) is not None:
            safety = self.webhooks.safety_interval_s
            if poll is not self.poll:  # a long kind's net is no tighter than its longest gap
                safety = max(safety, poll.max_interval_s)
        to_expiry = None
        if job.expires_at is not None:
            to_expiry = job.expires_at - self.clock.wall()
        timing = JobTiming(
            max_gap_s=self._action_gap(job),
            age_s=now - job.origin_at,
            checks=job.checks_since_origin,
            resumed=job.resumed,
            error_streak=job.error_streak,
            poll_after_s=job.poll_after_s,
            retry_after_s=job.retry_after_s,
            to_deadline_s=None if job.deadline is None else job.deadline - now,
            to_expiry_s=to_expiry,
            planned_age_s=None if safety is not None else self._planned_age(job),
            safety_interval_s=safety,
        )
        fair = 0.0
        if self._saturated(now):
            # Fair share while checks queue up: with N jobs in flight and R requests/s no job
            # is checked more often than every N/R seconds, so checks do not crowd each other
            # out. Below saturation there is no floor: an idle slot spent on a check is free.
            rate_per_s = max(self.budget.rate_per_s, 1e-9)
            fair = self.poll.fair_share * self._on_server() / rate_per_s
        return next_check_delay(timing, poll, self._uniform, fair_spacing_s=fair)

    def _model(self, job: Job) -> DurationModel | None:
        if job.klass is None or self.poll.strategy != "learned":
            return None
        key = f"{job.klass}|resumed" if job.resumed else job.klass
        model = self._models.get(key)
        if model is None:
            poll = self._poll_of(job.kind)
            timing = getattr(job.kind, "timing", None)
            prior = {} if timing is None else {"prior_sigma": timing.prior_sigma}
            model = self._models[key] = DurationModel(
                prior_median_s=poll.first_check_s if timing is None else timing.prior_median_s,
                lag_weight=poll.lag_weight,
                min_interval_s=poll.min_interval_s,
                **prior,
            )
        return model

    def _planned_age(self, job: Job) -> float | None:
        model = self._model(job)
        if model is None or job.error_streak:
            return None
        weight = None
        if self.budget.waiting(Priority.CREATE):
            # New work is waiting for the budget: a check that finds the job still running
            # delays a create, so lag is worth less than usual.
            weight = self._poll_of(job.kind).busy_lag_weight
        return model.next_age(job.last_age, weight)

    def _learn(self, job: Job, snapshot: Snapshot, age: float, *, hinted: bool = False) -> None:
        """A check that sees a change (done, or asking for tools) brackets the duration.
        Not a check a push asked for: its time depends on the duration itself, and such
        intervals would bias the model (it only learns from checks made blind)."""
        if (snapshot.terminal or snapshot.status == "requires_action") and not hinted:
            model = self._model(job)
            if model is not None:
                model.observe(job.last_age, age)
        job.last_age = age

    def _chance_done(self, job: Job, now: float) -> float | None:
        """How likely a check of ``job`` now finds something to act on (for ordering);
        None when nothing is known (no trained model for its class)."""
        if job.action != CHECK or job.hinted:
            return 2.0  # a retried submit or fetch, or a pushed "done": necessary work
        if self._action_gap(job) is not None and self._actions.at_risk(
            now - job.origin_at - job.last_age
        ):
            return 1.5  # may be waiting for tools, unchecked for its share of the window
        model = self._model(job)
        if model is None or not model.trained:
            return None
        return model.chance_done(job.last_age, now - job.origin_at)

    def _pick_due(self, now: float) -> Job | None:
        """The due job to spend a token on: earliest due, or, while checks queue up, the one
        most likely to be done (a check that finds a job still running is a request taken
        from another)."""
        if not self._saturated(now):
            return self._heap.pop_due(now)
        best: Job | None = None
        best_score = -1.0
        for _, job in self._heap.peek_due(now, _PICK_AMONG):
            score = self._chance_done(job, now)
            if score is None:
                if best is None:  # nothing known about the earliest: due order it is
                    return self._heap.pop_due(now)
                score = 0.5
            if score > best_score:
                best, best_score = job, score
        if best is not None:
            self._heap.discard(best)
        return best

    def _action_gap(self, job: Job) -> float | None:
        """The cap on a job's check gap that keeps a tool run from expiring (``_actionwindow``):
        for runs that may ask for tools (not chains: a completed response does not expire)."""
        if job.kind.chained or not self.tools:
            return None
        return self._actions.max_gap_s()

    def _on_server(self) -> int:
        """Jobs that exist on the server, so need checks (not those still waiting to be
        created: a bulk job's thousand queued creates must not space out the checks)."""
        return len(self._live) - self._creating

    def _create_share(self) -> float:
        """The share of contested tokens that waiting creates may take now (see
        ``PollSettings.create_share``)."""
        share = self.poll.create_share
        if share <= 0:
            return 0.0
        head = self._heap.next_due()
        max_lag = _SHARE_MAX_LAG_S
        gap = self._actions.max_gap_s() if self.tools else None
        if gap is not None:  # runs may wait for tools: checks must not fall that far behind
            max_lag = min(max_lag, gap / 2)
        if head is not None and self.clock.now() - head > max_lag:
            return 0.0
        if self._on_server() > _SHARE_IN_FLIGHT_S * self.budget.rate_per_s:
            return 0.0
        return share

    def _saturated(self, now: float) -> bool:
        """Checks are waiting for the budget: the earliest due job is overdue."""
        head = self._heap.next_due()
        return head is not None and now - head > _SATURATED_LAG_S
