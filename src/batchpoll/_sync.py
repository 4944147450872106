"""A blocking facade over ``Poller`` for plain scripts: the event loop runs in a thread.

with batchpoll.SyncPoller(AsyncOpenAI(), rpm=1200) as poller:
    jobs = [poller.create_and_run(assistant_id=..., thread=...) for ... in ...]
    for outcome in poller.as_completed(jobs):
        print(outcome.status, outcome.output_text)
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, Unpack

from anyio.from_thread import BlockingPortal, start_blocking_portal
from openai import AsyncOpenAI

from ._budget import Budget, Priority
from ._clock import Clock
from ._errors import PollerClosedError
from ._hints import WebhookSettings
from ._job import Job
from ._options import PollerOptions
from ._outcome import Outcome
from ._policy import PollSettings
from ._poller import Poller
from ._stats import PollerStats
from ._tokens import TokenBudget
from ._tools import ToolSettings
from ._toolspec import Tool
from .kinds import Ids, JobKind

__all__ = ["SyncJob", "SyncPoller"]

T = TypeVar("T")


class SyncJob:
    """Blocking handle of one job."""

    __slots__ = ("_future", "job")

    def __init__(self, job: Job, future: concurrent.futures.Future[Outcome]) -> None:
        self.job = job
        self._future = future

    @property
    def key(self) -> str:
        return self.job.key

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Outcome:
        """Block until the job has an outcome (``TimeoutError`` after ``timeout`` seconds)."""
        return self._future.result(timeout)


class SyncPoller:
    """``Poller`` for code without an event loop: the same arguments and methods, each
    blocking until the loop thread has done it (a create until its reply is in; a job's
    outcome with ``SyncJob.result()``)."""

    def __init__(self, client: AsyncOpenAI, **options: Unpack[PollerOptions]) -> None:
        self._client = client
        self._kwargs = options
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._poller: Poller | None = None

    def __enter__(self) -> Self:
        stack = contextlib.ExitStack()
        portal = stack.enter_context(start_blocking_portal("asyncio"))
        poller = portal.call(lambda: Poller(self._client, **self._kwargs))
        stack.enter_context(portal.wrap_async_context_manager(poller))
        self._stack, self._portal, self._poller = stack, portal, poller
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.__exit__(et, exc, tb)

    def _parts(self) -> tuple[BlockingPortal, Poller]:
        if self._portal is None or self._poller is None or self._stack is None:
            raise PollerClosedError("use SyncPoller inside 'with SyncPoller(...)'")
        return self._portal, self._poller

    def _submit(self, make: Callable[[Poller], Awaitable[Job] | Job]) -> SyncJob:
        portal, poller = self._parts()

        # A Job is awaitable, and the portal awaits whatever it is handed: box it in a tuple.
        async def start() -> tuple[Job]:
            made = make(poller)
            return (
                await made if inspect.isawaitable(made) and not isinstance(made, Job) else made,
            )

        (job,) = portal.call(start)

        async def wait() -> Outcome:
            return await job

        return SyncJob(job, portal.start_task_soon(wait))

    def create_and_run(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create_and_run(key=key, duration_hint_s=duration_hint_s, **params)
        )

    def create_response(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create_response(key=key, duration_hint_s=duration_hint_s, **params)
        )

    def create(
        self,
        kind: JobKind,
        params: Mapping[str, Any],
        *,
        key: str | None = None,
        duration_hint_s: float | None = None,
        ambiguous_creates: Literal["auto", "retry", "report"] | None = None,
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create(
                kind,
                params,
                key=key,
                duration_hint_s=duration_hint_s,
                ambiguous_creates=ambiguous_creates,
            )
        )

    def track_run(self, thread_id: str, run_id: str, *, key: str | None = None) -> SyncJob:
        return self._submit(lambda p: p.track_run(thread_id, run_id, key=key))

    def track_response(self, response_id: str, *, key: str | None = None) -> SyncJob:
        return self._submit(lambda p: p.track_response(response_id, key=key))

    def track(
        self,
        kind: JobKind,
        ids: Ids,
        *,
        key: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> SyncJob:
        return self._submit(lambda p: p.track(kind, ids, key=key, params=params))

    def create_batch(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create_batch(key=key, duration_hint_s=duration_hint_s, **params)
        )

    def track_batch(self, batch_id: str, *, key: str | None = None) -> SyncJob:
        return self._submit(lambda p: p.track_batch(batch_id, key=key))

    def create_fine_tuning_job(
        self, *, key: str | None = None, duration_hint_s: float | None = None, **params: Any
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create_fine_tuning_job(key=key, duration_hint_s=duration_hint_s, **params)
        )

    def track_fine_tuning_job(self, job_id: str, *, key: str | None = None) -> SyncJob:
        return self._submit(lambda p: p.track_fine_tuning_job(job_id, key=key))

    def create_vector_store_file_batch(
        self,
        vector_store_id: str,
        *,
        key: str | None = None,
        duration_hint_s: float | None = None,
        **params: Any,
    ) -> SyncJob:
        return self._submit(
            lambda p: p.create_vector_store_file_batch(
                vector_store_id, key=key, duration_hint_s=duration_hint_s, **params
            )
        )

    def track_vector_store_file_batch(
        self, vector_store_id: str, batch_id: str, *, key: str | None = None
    ) -> SyncJob:
        return self._submit(
            lambda p: p.track_vector_store_file_batch(vector_store_id, batch_id, key=key)
        )

    def notify_done(self, server_id: str) -> bool:
        """``Poller.notify_done``: a hint that the job with this server id is done."""
        portal, poller = self._parts()
        return portal.call(poller.notify_done, server_id)

    def request(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        priority: Priority = Priority.CREATE,
        retries: int = 0,
    ) -> T:
        """``Poller.request``: ``call`` (one async SDK request, e.g. with ``poller.client``)
        through the shared budget, on the loop thread; blocks until it is answered."""
        portal, poller = self._parts()

        async def run() -> T:
            return await poller.request(call, priority=priority, retries=retries)

        return portal.call(run)

    def join(self) -> None:
        """Block until every tracked job has an outcome."""
        portal, poller = self._parts()
        portal.call(poller.join)

    # --- what it runs with: the poller's, read-only (read them from this thread) -------------

    @property
    def client(self) -> AsyncOpenAI:
        """The poller's client (``max_retries=0``), for ``request`` calls."""
        return self._parts()[1].client

    @property
    def budget(self) -> Budget:
        return self._parts()[1].budget

    @property
    def tokens(self) -> TokenBudget | None:
        return self._parts()[1].tokens

    @property
    def clock(self) -> Clock:
        return self._parts()[1].clock

    @property
    def poll(self) -> PollSettings:
        return self._parts()[1].poll

    @property
    def tool_settings(self) -> ToolSettings:
        return self._parts()[1].tool_settings

    @property
    def tools(self) -> Mapping[str, Tool]:
        return self._parts()[1].tools

    @property
    def webhooks(self) -> WebhookSettings | None:
        return self._parts()[1].webhooks

    def as_completed(self, jobs: Iterable[SyncJob]) -> Iterator[Outcome]:
        """Outcomes in the order the jobs finish."""
        futures = {job._future: job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            yield future.result()

    def stats(self) -> PollerStats:
        portal, poller = self._parts()

        async def read() -> PollerStats:
            return poller.stats()

        return portal.call(read)
