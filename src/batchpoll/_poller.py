"""``Poller``: the public face of the engine: submit jobs, await outcomes, read stats. It
composes the engine's state and schedule (``_engine.Engine``) and the steps that act on them
(``_steps.Runner``), and adds nothing of its own but the lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Self, TypeVar

from openai import AsyncOpenAI

from ._budget import Budget, Priority
from ._clock import Clock, LoopClock
from ._engine import ASSISTANTS, RESPONSES, Engine
from ._errors import ConfigurationError, PollerClosedError
from ._failures import ErrorCode, FailureKind
from ._hints import WebhookSettings
from ._hooks import Hooks
from ._job import Job
from ._outcome import ErrorInfo, Outcome
from ._policy import PollSettings, retry_delay
from ._stats import PollerStats
from ._steps import Runner
from ._tokens import TokenBudget
from ._tools import ToolSettings
from ._toolspec import Tool, ToolsArg
from .kinds import BatchJobs, FineTuningJobs, Ids, JobKind, Reply, VectorStoreFileBatches

__all__ = ["Poller"]

T = TypeVar("T")

BATCHES: JobKind = BatchJobs()
FINE_TUNING: JobKind = FineTuningJobs()
FILE_BATCHES: JobKind = VectorStoreFileBatches()
_NO_HEADERS: Mapping[str, str] = {}


class Poller:
    """Track many asynchronous jobs under one shared request budget.

    ``client`` is used with ``max_retries=0``: every HTTP attempt is charged to the budget,
    and the scheduler owns retries. ``rpm`` builds the shared budget (or pass ``budget``);
    ``tpm`` adds tokens per minute per model (or pass ``tokens=TokenBudget(...)``): each
    Responses create and continuation waits until its estimated tokens fit, checks cost none.
    ``tools``: handlers (or ``batchpoll.tool(...)``), by name or as a list; their schemas are
    sent with every Responses request and they answer every round of tool calls;
    ``budgets`` adds budgets per request class (``"create"``, ``"check"``, ``"submit"``,
    ``"fetch"``, ``"cancel"``) that those requests take a token from as well.
    ``hooks``: instrumentation (``batchpoll.Hooks``: requests charged, retries, 429s, jobs
    finished). ``webhooks=WebhookSettings(...)``: events are pushed for background responses (see
    ``notify_done`` and ``batchpoll.webhooks``), so those are polled only as a safety net.
    ``max_in_flight``: each create waits while that many jobs are live (created, tracked or
    being created, and not done); ``track`` never waits but counts.
    ``max_concurrent_creates``: at most that many creates between their token request and
    their reply, so a crash of the process leaves at most that many creates in doubt (the
    runner's journal reports those ``uncertain``); creates are then limited to that many per
    round trip.
    ``clock``: where the poller reads time and waits (``batchpoll.Clock``; default, the
    running loop's); ``seed``: its jitter; ``max_concurrency``: step tasks at once.
    """

    __slots__ = ("_engine", "_runner")

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
        max_concurrent_creates: int | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        webhooks: WebhookSettings | None = None,
        hooks: Sequence[Hooks] | None = None,
    ) -> None:
        # The state and the schedule (Engine), and the steps that act on them (Runner).
        self._engine = Engine(
            client,
            rpm=rpm,
            budget=budget,
            budgets=budgets,
            tpm=tpm,
            tokens=tokens,
            tools=tools,
            poll=poll,
            tool_settings=tool_settings,
            max_concurrency=max_concurrency,
            max_in_flight=max_in_flight,
            max_concurrent_creates=max_concurrent_creates,
            clock=clock,
            seed=seed,
            webhooks=webhooks,
            hooks=hooks,
        )
        self._runner = Runner(self._engine)

    # --- what it runs with ----------------------------------------------------------------

    @property
    def client(self) -> AsyncOpenAI:
        """The client every request goes through (the one given, with ``max_retries=0``)."""
        return self._engine.client

    @property
    def budget(self) -> Budget:
        """The shared request budget (built from ``rpm``, or the one given)."""
        return self._engine.budget

    @property
    def tokens(self) -> TokenBudget | None:
        return self._engine.tokens

    @property
    def clock(self) -> Clock:
        return self._engine.clock

    @property
    def poll(self) -> PollSettings:
        return self._engine.poll

    @property
    def tool_settings(self) -> ToolSettings:
        return self._engine.tool_settings

    @property
    def tools(self) -> Mapping[str, Tool]:
        """The tools by name (read-only)."""
        return MappingProxyType(self._engine.tools)

    @property
    def webhooks(self) -> WebhookSettings | None:
        return self._engine.webhooks

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        engine = self._engine
        if engine.running:
            raise PollerClosedError("a Poller is entered once")
        engine.running = True
        if isinstance(engine.clock, LoopClock):  # while entered, reads skip the loop lookup
            engine.unpin_clock = engine.clock.pin()
        scheduler = asyncio.get_running_loop().create_task(self._runner.scheduler())
        scheduler.add_done_callback(self._scheduler_ended)
        engine.scheduler_task = scheduler
        return self

    def _scheduler_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug in the scheduler: every job gets an outcome rather than waiting forever.
            error = ErrorInfo(ErrorCode.INTERNAL, f"scheduler failed: {task.exception()!r}")
            self._engine.abort_all(error)

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        engine = self._engine
        try:
            if et is None:
                await self.join()
        finally:
            engine.closed = True
            engine.abort_all(ErrorInfo(ErrorCode.ABORTED, "the poller closed before the job ended"))
            tasks = [t for t in (engine.scheduler_task, *engine.tasks) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await engine.charger.aclose()
            engine.unpin_clock()

    async def join(self) -> None:
        """Wait until every tracked job has an outcome."""
        await self._engine.jobs.idle()

    # --- submitting work ----------------------------------------------------------------

    async def create_and_run(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> Job:
        """``threads.create_and_run(**params)`` and track the run (the legacy Assistants API:
        OpenAI sunset it on 2026-08-26; OpenAI-compatible servers still serve it)."""
        return await self.create(ASSISTANTS, params, key=key, duration_hint_s=duration_hint_s)

    async def create_response(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> Job:
        """``responses.create(background=True, **params)`` and track it to the end of its
        chain: each round of ``function_call`` items is answered by the poller's tools in a
        continuation (``previous_response_id``, or the same ``conversation``), until a
        message. The poller's tools are declared on every request of the chain."""
        return await self.create(RESPONSES, params, key=key, duration_hint_s=duration_hint_s)

    def track_run(self, thread_id: str, run_id: str, *, key: str | None = None) -> Job:
        return self.track(ASSISTANTS, {"thread_id": thread_id, "run_id": run_id}, key=key)

    def track_response(self, response_id: str, *, key: str | None = None) -> Job:
        """Track a background response that exists; tool calls it asks for are answered."""
        return self.track(RESPONSES, {"response_id": response_id}, key=key)

    # --- long jobs: batches, fine-tuning jobs, vector-store file batches -------------------
    # Each is checked on its kind's own schedule (KindTiming: minutes, not seconds) and ends
    # with its result in ``Outcome.result`` (file ids and counts, the fine-tuned model).

    async def create_batch(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> Job:
        """``batches.create(**params)`` (``input_file_id``, ``endpoint``, ``metadata``; the
        window is 24h) and track the batch: ``result`` has ``output_file_id``,
        ``error_file_id`` and ``request_counts``."""
        return await self.create(BATCHES, params, key=key, duration_hint_s=duration_hint_s)

    def track_batch(self, batch_id: str, *, key: str | None = None) -> Job:
        return self.track(BATCHES, {"batch_id": batch_id}, key=key)

    async def create_fine_tuning_job(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> Job:
        """``fine_tuning.jobs.create(**params)`` and track it (``result["fine_tuned_model"]``)."""
        return await self.create(FINE_TUNING, params, key=key, duration_hint_s=duration_hint_s)

    def track_fine_tuning_job(self, job_id: str, *, key: str | None = None) -> Job:
        return self.track(FINE_TUNING, {"fine_tuning_job_id": job_id}, key=key)

    async def create_vector_store_file_batch(
        self,
        vector_store_id: str,
        *,
        key: str | None = None,
        duration_hint_s: float | None = None,
        **params: Any,
    ) -> Job:
        """``vector_stores.file_batches.create(vector_store_id, **params)`` and track it
        (``result["file_counts"]``)."""
        return await self.create(
            FILE_BATCHES,
            {"vector_store_id": vector_store_id, **params},
            key=key,
            duration_hint_s=duration_hint_s,
        )

    def track_vector_store_file_batch(
        self, vector_store_id: str, batch_id: str, *, key: str | None = None
    ) -> Job:
        ids = {"vector_store_id": vector_store_id, "file_batch_id": batch_id}
        return self.track(FILE_BATCHES, ids, key=key)

    async def create(
        self,
        kind: JobKind,
        params: Mapping[str, Any],
        *,
        key: str | None = None,
        duration_hint_s: float | None = None,
        ambiguous_creates: Literal["auto", "retry", "report"] | None = None,
    ) -> Job:
        """Create a job of any kind (one request, lowest priority) and track it.

        A rejected create (400, ...) gives a job that is already done with an ``error``
        outcome. Raises ``AuthenticationFailedError`` when the key is rejected.
        ``duration_hint_s`` (every ``create_*`` takes it): how long you expect the job to
        take; jobs with similar hints learn their schedule together, from that prior.
        ``ambiguous_creates``: this create's policy after a failure that may have reached
        the server (default: ``PollSettings.ambiguous_creates``); "report" for a create you
        will look for yourself (its job ends ``create_uncertain``).
        """
        if duration_hint_s is not None and not duration_hint_s > 0:
            raise ConfigurationError(f"duration_hint_s must be > 0, got {duration_hint_s!r}")
        if ambiguous_creates not in (None, "auto", "retry", "report"):
            raise ConfigurationError("ambiguous_creates must be 'auto', 'retry' or 'report'")
        job = await self._runner.create(kind, params, key, duration_hint_s, ambiguous_creates)
        return Job(job)

    async def request(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        priority: Priority = Priority.CREATE,
        retries: int = 0,
    ) -> T:
        """Make any other API request through the shared budget (``call`` makes exactly one
        HTTP request, e.g. ``lambda: client.beta.threads.create(...)``; pass a client with
        ``max_retries=0``, like ``poller.client``). A 429 pauses the budget and the request is
        tried again; a transient failure (5xx, timeout, connection) is tried again up to
        ``retries`` times, after the poller's backoff (only for requests safe to repeat); a
        rejected key stops the poller and raises ``AuthenticationFailedError``, as a create
        does; any other error is raised to the caller as the SDK raised it.
        """
        engine = self._engine
        engine.ensure_open()
        hooks = engine.hooks

        async def one() -> Reply[T]:
            if hooks is not None:
                hooks.request_charged(priority, None)
            return Reply(await call(), _NO_HEADERS)

        attempt = 0
        while True:
            try:
                return (await engine.charger.request(priority, one)).value
            except Exception as exc:
                kind = engine.on_failure(exc).kind
                if kind is FailureKind.FATAL and engine.fatal is not None:
                    raise engine.fatal from None
                if kind is FailureKind.TRANSIENT and attempt < retries:
                    attempt += 1
                    await engine.clock.sleep(retry_delay(attempt, engine.poll, engine.uniform))
                elif kind is not FailureKind.RATE_LIMITED:
                    raise

    def track(
        self,
        kind: JobKind,
        ids: Ids,
        *,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Job:
        """Track a job that already exists; its first check is due at once. ``params``: the
        job's create params, which a chain's continuation re-sends (without them it continues
        with the model the server reports and the poller's tools)."""
        return Job(self._engine.track(kind, ids, key, params))

    def notify_done(self, server_id: str) -> bool:
        """A hint that the job with this server id (a response id) is probably done, e.g. from
        a verified webhook: it becomes due at once, and one check through the budget reads the
        result. A hint never ends a job by itself. True when a job in flight matched; a hint
        for an unknown id is kept (``WebhookSettings.pending_ttl_s``) and matched when the job
        appears, since an event can beat the create's reply. Safe to call with duplicates.
        """
        return self._engine.hint(server_id)

    async def as_completed(self, jobs: Iterable[Job]) -> AsyncIterator[Outcome]:
        """Yield the jobs' outcomes in the order they finish."""
        queue: asyncio.Queue[Outcome] = asyncio.Queue()
        pending = 0
        for job in jobs:
            pending += 1
            job.add_done_callback(queue.put_nowait)
        for _ in range(pending):
            yield await queue.get()

    def stats(self) -> PollerStats:
        engine = self._engine
        b = engine.budget.stats()
        jobs, charger = engine.jobs, engine.charger
        return PollerStats(
            in_flight=len(jobs.live),
            done=jobs.done,
            created=jobs.created,
            requests=charger.requests,
            checks=jobs.checks,
            rate_limited=charger.rate_limited,
            transient_errors=charger.transient,
            rate_rpm=b.rate_rpm,
            target_rpm=b.target_rpm,
            by_status=dict(jobs.by_status),
            hints=jobs.push.hints,
            hints_matched=jobs.push.matched,
            hints_pending=jobs.push.pending,
            tokens=None if engine.tokens is None else engine.tokens.stats(),
            heap_entries=engine.heap.entries,
            heap_live=len(engine.heap),
            tasks=len(engine.tasks) + (engine.scheduler_task is not None),
        )
