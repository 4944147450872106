"""``Poller``: the public face of the engine: submit jobs, await outcomes, read stats."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from ._budget import Priority
from ._engine import ASSISTANTS, RESPONSES
from ._errors import ConfigurationError, PollerClosedError
from ._failures import ErrorCode, FailureKind
from ._job import Job
from ._outcome import ErrorInfo, Outcome
from ._policy import retry_delay
from ._stats import PollerStats
from ._steps import Engine
from .kinds import BatchJobs, FineTuningJobs, Ids, JobKind, Reply, VectorStoreFileBatches

__all__ = ["Poller"]

T = TypeVar("T")

BATCHES: JobKind = BatchJobs()
FINE_TUNING: JobKind = FineTuningJobs()
FILE_BATCHES: JobKind = VectorStoreFileBatches()
_NO_HEADERS: Mapping[str, str] = {}


class Poller(Engine):
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
    """

    # --- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._running:
            raise PollerClosedError("a Poller is entered once")
        self._running = True
        scheduler = asyncio.get_running_loop().create_task(self._scheduler())
        scheduler.add_done_callback(self._scheduler_ended)
        self._scheduler_task = scheduler
        return self

    def _scheduler_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug in the scheduler: every job gets an outcome rather than waiting forever.
            self._abort_all(
                ErrorInfo(ErrorCode.INTERNAL, f"scheduler failed: {task.exception()!r}")
            )

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if et is None:
                await self.join()
        finally:
            self._closed = True
            self._abort_all(ErrorInfo(ErrorCode.ABORTED, "the poller closed before the job ended"))
            tasks = [t for t in (self._scheduler_task, *self._tasks) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.charger.aclose()

    async def join(self) -> None:
        """Wait until every tracked job has an outcome."""
        await self._jobs.idle()

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
    ) -> Job:
        """Create a job of any kind (one request, lowest priority) and track it.

        A rejected create (400, ...) gives a job that is already done with an ``error``
        outcome. Raises ``AuthenticationFailedError`` when the key is rejected.
        ``duration_hint_s`` (every ``create_*`` takes it): how long you expect the job to
        take; jobs with similar hints learn their schedule together, from that prior.
        """
        if duration_hint_s is not None and not duration_hint_s > 0:
            raise ConfigurationError(f"duration_hint_s must be > 0, got {duration_hint_s!r}")
        return Job(await self._create(kind, params, key, duration_hint_s))

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
        self._ensure_open()

        async def one() -> Reply[T]:
            if self._hooks is not None:
                self._hooks.request_charged(priority, None)
            return Reply(await call(), _NO_HEADERS)

        attempt = 0
        while True:
            try:
                return (await self.charger.request(priority, one)).value
            except Exception as exc:
                kind = self._on_failure(exc).kind
                if kind is FailureKind.FATAL and self._fatal is not None:
                    raise self._fatal from None
                if kind is FailureKind.TRANSIENT and attempt < retries:
                    attempt += 1
                    await self.clock.sleep(retry_delay(attempt, self.poll, self._uniform))
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
        self._ensure_open()
        job = self._new_job(kind, dict(ids), key)
        if params:
            job.params = kind.prepare(params, self._tool_specs)
        if kind.chained:
            job.chain = ["/".join(ids.values())]
        if getattr(kind, "timing", None) is not None:
            # A long kind's schedule comes from its prior even for a job created elsewhere
            # (its age counts from now: the learned model sees it as younger than it is).
            job.klass = sys.intern(f"{kind.name}:tracked")
        self._jobs.push.register(job, self.clock.now())
        job.checks_since_origin = 1  # not just created: no first-check delay
        job.due = self.clock.now()
        self._heap.push(job, job.due)
        self._wake.set()
        return Job(job)

    def notify_done(self, server_id: str) -> bool:
        """A hint that the job with this server id (a response id) is probably done, e.g. from
        a verified webhook: it becomes due at once, and one check through the budget reads the
        result. A hint never ends a job by itself. True when a job in flight matched; a hint
        for an unknown id is kept (``WebhookSettings.pending_ttl_s``) and matched when the job
        appears, since an event can beat the create's reply. Safe to call with duplicates.
        """
        return self._hint(server_id)

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
        b = self.budget.stats()
        jobs = self._jobs
        return PollerStats(
            in_flight=len(jobs.live),
            done=jobs.done,
            created=jobs.created,
            requests=self.charger.requests,
            checks=jobs.checks,
            rate_limited=self.charger.rate_limited,
            transient_errors=self.charger.transient,
            rate_rpm=b.rate_rpm,
            target_rpm=b.target_rpm,
            by_status=dict(jobs.by_status),
            hints=jobs.push.hints,
            hints_matched=jobs.push.matched,
            hints_pending=jobs.push.pending,
            tokens=None if self.tokens is None else self.tokens.stats(),
            heap_entries=self._heap.entries,
            heap_live=len(self._heap),
            tasks=len(self._tasks) + (self._scheduler_task is not None),
        )
