"""The state under ``Poller``: jobs in flight, the due-time heap, the budgets, the planner
that turns them into the next check time. A waiting job costs one heap entry, no task, no
sleep. The loop and the job steps are ``_steps.Runner``'s."""

from __future__ import annotations

import asyncio
import math
import random
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar, Unpack

from openai import AsyncOpenAI

from ._actionwindow import GAP_SHARE, pull_forward
from ._budget import Budget, BudgetSettings, Priority, Ticket
from ._charger import CLASS_OF, Charger
from ._clock import Clock, LoopClock
from ._errors import (
    AuthenticationFailedError,
    ConfigurationError,
    PollerClosedError,
    QuotaExhaustedError,
)
from ._failures import ErrorCode, Failure, FailureKind
from ._headers import poll_after_hint_s
from ._heap import DueHeap
from ._hints import WebhookSettings
from ._hooks import fan_out
from ._indoubt import InDoubt
from ._log import log
from ._options import PollerOptions, check_options
from ._outcome import ErrorInfo, Status
from ._pick import pick_due
from ._planner import Load, Planner
from ._policy import PollSettings, shared_budget
from ._pushindex import push_key
from ._record import CHECK, Record
from ._registry import Registry
from ._resend import Verdict, uncertain
from ._stats import PollerStats
from ._tokens import TokenBudget, TokenSettings
from ._tools import ToolSettings
from ._toolspec import Tool, as_tools
from .kinds import AssistantsRuns, Ids, JobKind, Reply, ResponsesJobs, Snapshot

__all__ = ["ASSISTANTS", "RESPONSES", "Engine", "PollerStats"]

T = TypeVar("T")

ASSISTANTS: JobKind = AssistantsRuns()
RESPONSES: JobKind = ResponsesJobs()
# A job due within this much is due now: sleeping for less than a clock tick would spin (a
# quantized virtual clock may not move at all), and checking a millisecond early costs nothing.
_EARLY_S = 1e-3
# The due time of a retried tool-output submit once its backoff passed: before every check.
_URGENT_DUE = -math.inf


def priority_of(due: float) -> Priority:
    """The token a due heap entry takes: a retried submit's (urgent), else a check's."""
    return Priority.SUBMIT if due == _URGENT_DUE else Priority.CHECK


class Engine:
    """State, bookkeeping and scheduling arithmetic under ``Poller`` (see its docstring for
    the arguments): the budgets through the charger, the jobs (``Registry``), the due-time
    heap and the planner. The loop and the job steps are ``_steps.Runner``'s."""

    def __init__(self, client: AsyncOpenAI, **options: Unpack[PollerOptions]) -> None:
        """``options``: ``Poller``'s keyword arguments, which that signature documents and
        whose defaults it passes."""
        o = options
        rpm, budget, budgets = o.get("rpm"), o.get("budget"), o.get("budgets")
        tpm, tokens, tools, poll = o.get("tpm"), o.get("tokens"), o.get("tools"), o.get("poll")
        max_concurrency = o.get("max_concurrency", 256)
        max_in_flight, seed = o.get("max_in_flight"), o.get("seed")
        max_concurrent_creates = o.get("max_concurrent_creates")
        webhooks, hooks = o.get("webhooks"), o.get("hooks")
        clock = o.get("clock") or LoopClock()
        if budget is None:
            if rpm is None:
                raise ConfigurationError(
                    "give rpm= (your account's requests per minute) or budget="
                )
            budget = Budget(BudgetSettings(rpm), clock=clock)
        check_options(o, set(CLASS_OF.values()))
        self.client = client.with_options(max_retries=0)
        self.budget = budget
        self.clock: Clock = clock
        if tokens is None and tpm is not None:
            tokens = TokenBudget(TokenSettings(tpm), clock=self.clock)
        self.tokens = tokens = tokens or getattr(budget, "tokens", None)  # RedisBudget(tpm=)
        self.charger = Charger(budget, budgets or {}, tokens, create_share=self.create_share)
        self.tools: dict[str, Tool] = as_tools(tools)
        self.tool_specs: tuple[Tool, ...] = tuple(self.tools.values())
        self.poll = poll or PollSettings()
        self.tool_settings = o.get("tool_settings") or ToolSettings()
        self.uniform = random.Random(seed).random
        self.max_concurrency = max_concurrency
        self.heap: DueHeap[Record] = DueHeap()
        self.wake = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()  # the scheduler and the running steps
        self.running = False
        self.scheduler_task: asyncio.Task[None] | None = None
        self.fatal: AuthenticationFailedError | QuotaExhaustedError | None = None
        self.closed = False
        self.unpin_clock: Callable[[], None] = lambda: None  # LoopClock.pin's, while entered
        # Creates between their token request and their reply: the ones a crash leaves in doubt.
        self.in_doubt = None if max_concurrent_creates is None else InDoubt(max_concurrent_creates)
        self.webhooks = webhooks
        self.hooks = fan_out(hooks)  # None when nobody listens: nothing to call per request
        self.jobs = Registry(webhooks or WebhookSettings(), max_in_flight)
        self.planner = Planner(
            self.poll,
            tools=bool(self.tools),
            webhooks=webhooks,
            uniform=self.uniform,
            shared_budget=shared_budget(budget, *(budgets or {}).values()),
        )

    # --- internals: bookkeeping ---------------------------------------------------------

    def ensure_open(self) -> None:
        if self.fatal is not None:
            raise self.fatal
        if not self.running or self.closed:
            raise PollerClosedError("use the poller inside 'async with Poller(...)'")

    async def wait_for_room(self) -> None:
        """``max_in_flight``: a create waits while that many jobs are live (created or being
        created, tracked, not done)."""
        while self.jobs.full():
            await self.jobs.room()
            self.ensure_open()

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        # Plain asyncio tasks: a check's task is the hottest allocation of the scheduler.
        task = asyncio.get_running_loop().create_task(fn(*args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def new_job(self, kind: JobKind, ids: Ids, key: str | None) -> Record:
        now = self.clock.now()
        timeout = self.planner.poll_of(kind).timeout_s
        job = self.jobs.add(kind, ids, key, now)
        if timeout is not None:
            job.deadline = now + timeout
        return job

    def track(
        self, kind: JobKind, ids: Ids, key: str | None, params: Mapping[str, Any] | None
    ) -> Record:
        """A job that exists already: live, and due at once (no first-check delay)."""
        self.ensure_open()
        job = self.new_job(kind, dict(ids), key)
        if params:
            job.params = kind.prepare(params, self.tool_specs)
        if kind.chained:
            job.chain = ["/".join(ids.values())]
        if getattr(kind, "timing", None) is not None:
            # A long kind's prior even for a job created elsewhere (its age counts from now).
            job.klass = sys.intern(f"{kind.name}:tracked")
        now = self.clock.now()
        self.jobs.push.register(job, now)
        job.checks_since_origin = 1  # not just created: no first-check delay
        self.schedule(job, 0.0, now=now)
        return job

    def finish(
        self,
        job: Record,
        status: Status,
        *,
        output_text: str | None = None,
        error: ErrorInfo | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> None:
        if job.done():
            return
        self.heap.discard(job)
        outcome = job.outcome_of(status, self.clock.now(), output_text, error, result)
        job.resolve(outcome)
        if self.hooks is not None:
            self.hooks.job_finished(outcome)
        self.jobs.ended(job, status)
        log.info(
            "batchpoll.job.finished",
            job=job.key,
            status=status.value,
            checks=job.checks,
            requests=job.requests,
            error=error.type if error else None,
        )

    def observe(self, job: Record, snapshot: Snapshot) -> None:
        """What a fresh snapshot tells about the job, whatever comes next."""
        x = job.extras  # read once; write only what changes (each write is a Python call)
        if x.error_streak:
            job.error_streak = 0
        if x.retry_after_s is not None:
            job.retry_after_s = None
        if snapshot.usage is not None and job.usage_due:  # once per server object
            job.usage = snapshot.usage if job.usage is None else job.usage + snapshot.usage
            job.usage_due = False
        if snapshot.expires_at is not None:
            job.expires_at = snapshot.expires_at
            if snapshot.status == "requires_action" and not job.kind.chained:
                self.learn_action_window(snapshot.expires_at - self.clock.wall())

    def send_again(
        self, job: Record, failure: Failure, verdict: Verdict, what: str, event: str
    ) -> bool:
        """Whether a failed create or continuation (``what``) goes again (``_resend``); a
        resend after a failure that may have reached the server is flagged (``event``
        logged), an uncertain one ends the job. False: it ended."""
        if verdict is Verdict.RESEND:
            job.retried_ambiguous = True
            log.info(event, job=job.key, error=failure.error.type)
        elif verdict is Verdict.UNCERTAIN:
            self.finish(job, Status.ERROR, error=uncertain(failure, what))
            return False
        return True

    def abort_all(self, error: ErrorInfo) -> None:
        for job in list(self.jobs.live):
            self.finish(job, Status.ERROR, error=error)

    def past_deadline(self, job: Record, now: float | None = None) -> bool:
        if job.deadline is None:
            return False
        return (self.clock.now() if now is None else now) >= job.deadline

    def on_failure(self, exc: Exception, job: Record | None = None) -> Failure:
        """A failed attempt: the budgets react (``Charger``); a rejected key or an exhausted
        quota stops everything, since no request can succeed."""
        model = None if job is None else job.model
        failure = self.charger.on_failure(exc, model=model)
        if failure.kind is FailureKind.RATE_LIMITED and self.hooks is not None:
            self.hooks.throttled(failure.limit or "requests", failure.retry_after_s)
        if failure.kind is FailureKind.FATAL and self.fatal is None:
            message = failure.error.message
            if failure.error.type == ErrorCode.INSUFFICIENT_QUOTA:
                self.fatal = QuotaExhaustedError(f"the account is out of quota: {message}")
            else:
                self.fatal = AuthenticationFailedError(f"the API rejected the key: {message}")
            log.error("batchpoll.poller.auth_failed", error=failure.error.type, message=message)
            self.abort_all(failure.error)
        return failure

    async def send(
        self,
        job: Record,
        priority: Priority,
        call: Callable[[], Awaitable[Reply[T]]],
        *,
        paid: Ticket | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Reply[T]:
        """One HTTP attempt of a job, charged to the budget(s) (``paid``: the main budget's
        token is already held; ``body``: a prompt-carrying request, charged its tokens)."""

        charger = self.charger
        if paid is not None and body is None and not charger.class_budgets:
            # Every token it takes is held: counted now, no closure (each chained check).
            self._charged(job, priority)
            reply = await charger.request(priority, call, paid=paid, model=job.model)
        else:

            async def attempt() -> Reply[T]:  # counted once it has its tokens and its turn
                self._charged(job, priority)
                return await call()

            reply = await charger.request(priority, attempt, paid=paid, body=body, model=job.model)
        poll_after = poll_after_hint_s(reply.headers)
        if poll_after is not None or job.extras.poll_after_s is not None:
            job.poll_after_s = poll_after
        return reply

    def _charged(self, job: Record, priority: Priority) -> None:
        job.requests += 1
        if self.hooks is not None:
            self.hooks.request_charged(priority, job.key)

    # --- internals: push hints ----------------------------------------------------------

    def hint(self, server_id: str) -> bool:
        job = self.jobs.push.hint(server_id, self.clock.now())
        if job is None:
            return False
        if job.heap_key is not None and job.action == CHECK:
            self.schedule(job, 0.0)
        # Else a check is under way: if it still sees the job running, the next one is at once.
        return True

    # --- internals: the scheduler -------------------------------------------------------

    def schedule(
        self, job: Record, delay: float | None = None, *, now: float | None = None
    ) -> None:
        """Due ``delay`` s from ``now`` (the planner's when None; ``now``: read by the caller)."""
        if now is None:
            now = self.clock.now()
        head = self.heap.next_due()
        if delay is None:
            delay = self.next_delay(job, now, head)
        due = now + delay
        self.heap.push(job, due)
        if head is None or due < head:
            self.wake.set()

    def schedule_urgent(self, job: Record, delay: float) -> None:
        """A retried tool-output submit: due after its backoff, then ahead of every check (a
        submit behind a backlog of late checks would let the run expire)."""
        self.spawn(self._urgent_after, job, delay)

    async def _urgent_after(self, job: Record, delay: float) -> None:
        # A task for the backoff (rare: retried submits only), so it sleeps on the clock.
        await self.clock.sleep(delay)
        if not job.done() and job.heap_key is None:
            self.heap.push(job, _URGENT_DUE)
            self.wake.set()

    def load(self, now: float | None = None) -> Load:
        """What the planner reads of the engine now (``now``: a moment just ahead)."""
        return self._load(self.clock.now() if now is None else now, self.heap.next_due())

    def _load(self, now: float, head_due: float | None) -> Load:
        budget = self.budget
        return Load(
            now,
            self.clock.wall(),
            head_due,
            self.jobs.on_server,
            budget.rate_per_s,
            budget.waiting(Priority.CREATE) > 0,
        )

    def next_delay(self, job: Record, now: float, head_due: float | None = None) -> float:
        """The planner's delay for ``job`` (``head_due``: the heap's, when the caller just
        read it; else it is read here)."""
        if head_due is None:
            head_due = self.heap.next_due()
        pushed = self.webhooks is not None and push_key(job) is not None
        return self.planner.next_delay(job, self._load(now, head_due), pushed=pushed)

    def learn_action_window(self, remaining_s: float) -> None:
        gap = self.planner.learn_action_window(remaining_s)
        if gap is not None:
            moved = pull_forward(self.jobs.live, self.heap, gap)
            log.info(
                "batchpoll.schedule.action_window", window_s=round(gap / GAP_SHARE, 1), moved=moved
            )
            self.wake.set()

    def replan(self) -> None:
        """Refresh the classes due one and move their waiting jobs (``_replan``)."""
        moved = self.planner.refresh(self.jobs.live, self.heap, self.load(), self.is_pushed)
        if moved:
            log.debug("batchpoll.schedule.replanned", moved=moved)
            self.wake.set()

    def is_pushed(self, job: Record) -> bool:
        return self.webhooks is not None and push_key(job) is not None

    def pick_due(self, now: float, head_due: float | None = None) -> Record | None:
        """The due job to spend a token on (``_pick``), off the heap (``head_due``: the
        heap's earliest due time, when the caller just read it)."""
        if head_due is None:
            head_due = self.heap.next_due()
        return pick_due(self.heap, self.planner.chance_done, now, head_due)

    def take_due_now(self) -> tuple[Record, Ticket] | None:
        """The next due job with a token granted without waiting, or None (then the
        scheduler, which may be queued for a token, serves the rest)."""
        due = self.heap.next_due()
        now = self.clock.now()
        if due is None or due > now + _EARLY_S:
            return None
        ticket = self.budget.try_acquire(priority_of(due))
        if ticket is None:
            return None
        job = self.pick_due(now + _EARLY_S, due)
        if job is None:
            ticket.release()
            return None
        return job, ticket

    def create_share(self) -> float:
        """The budget's ``create_share`` rule (``Planner.create_share``); none while the
        earliest due job is one a push said is done (necessary work, not a contested token)."""
        head = self.heap.first()
        now = self.clock.now()
        if head is not None and head.due <= now + _EARLY_S and head.extras.hinted:
            return 0.0
        return self.planner.create_share(self._load(now, self.heap.next_due()))
