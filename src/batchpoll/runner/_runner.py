"""Run a JSONL file of items through one ``Poller``: admission, journal, output, resume, stop.

Admission: no task per item of the input. One feeder walks the input lazily and keeps at most
``max_in_flight`` items in flight; each admitted create runs in a short task that ends when the
job exists (most of them wait in the budget's queue, where creates come after the checks of
the jobs in flight, but for the share those can spare: ``PollSettings.create_share``); the
rest of each job's life is a heap entry of the poller and a done-callback here. So the poller
knows every admitted job at once, to share the budget among them.

Each create is journaled as it leaves (the ``Creator``, on the poller's create hooks), each
outcome before it is written out; resume reads the journal back (docs/journal.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
from openai import AsyncOpenAI

from .. import (
    AccountRefusedError,
    AuthenticationFailedError,
    Clock,
    ErrorCode,
    ErrorInfo,
    Job,
    Outcome,
    Poller,
    PollerClosedError,
    QuotaExhaustedError,
    Status,
    ToolHandler,
    logger,
)
from ._errors import UnreachableError
from ._items import BadLine, Item, iter_items, scan_input
from ._output import OutputWriter
from ._plan import Action
from ._reconcile import as_tracked, make_plan, open_journal
from ._resume import Creator
from ._settings import RunSettings, warm_up
from ._stall import StallWatch
from ._summary import (
    RunProgress,
    RunSummary,
    Tally,
    bad_line_record,
    output_record,
    uncertain_record,
)
from ._watch import ConnectivityWatch

__all__ = ["Run"]

log = logger  # silent until the application configures structlog

_FATAL_GRACE_S = 2.0  # on a fatal error: how long creates on the wire may take to answer


class _Abandon(Exception):
    """Leave the poller without waiting for the jobs in flight (they stay journaled)."""


class Run:
    """One direct bulk run (``run_items``)."""

    def __init__(
        self,
        settings: RunSettings,
        client: AsyncOpenAI,
        tools: Mapping[str, ToolHandler],
        clock: Clock,
        serve: Callable[[Poller], AbstractAsyncContextManager[Any]] | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.s = settings
        self._serve = serve
        self._client = client
        self._tools = tools
        self._clock = clock
        self._notice = on_notice or (lambda _: None)
        self._tally = Tally()
        self._pending = 0
        self._room = asyncio.Event()
        self._stopping = self._closing = False
        self._fatal: BaseException | None = None
        self._creating_done = asyncio.Event()
        self._spawns: asyncio.Queue[tuple[Callable[..., Coroutine[Any, Any, Any]], tuple[Any, ...]]]
        self._spawns = asyncio.Queue()
        self._watch = ConnectivityWatch(self._unreachable)

    # --- the run ----------------------------------------------------------------------------

    async def execute(
        self,
        stop: asyncio.Event | None,
        on_progress: Callable[[RunProgress], None] | None,
        progress_every_s: float,
    ) -> RunSummary:
        s = self.s
        self._scan = scan_input(s.input_path, s.defaults, s.shard)
        self._journal = open_journal(s, self._client, self._scan)
        try:
            self._plan = make_plan(s, self._journal, self._scan, self._notice)
            self._output = OutputWriter(s.output_path).open()
            try:
                await self._run_poller(stop, on_progress, progress_every_s)
            finally:
                self._output.close(keep=self._scan.keys)
            if isinstance(self._fatal, AccountRefusedError | UnreachableError):
                # The server refused every request of this run (the key) or was never reached
                # (the URL): no create cut short on the wire can have made a job, whatever the
                # grace allowed. Forgotten, they leave the journal as if the run never began,
                # so the corrected command is not refused as "another run".
                self._journal.forget_sending()
            if isinstance(self._fatal, AuthenticationFailedError):
                self._journal.set_info(key_rejected="1")  # a new key may take over
        finally:
            self._journal.close()
        if self._fatal is not None:
            raise self._fatal
        return self._summary()

    async def _run_poller(
        self,
        stop: asyncio.Event | None,
        on_progress: Callable[[RunProgress], None] | None,
        progress_every_s: float,
    ) -> None:
        s = self.s
        stall = StallWatch(self, s.stall_notice_s, self._notice, self._clock)
        self._start = self._clock.now()
        log.info("batchpoll.run.started", items=self._scan.items, input=str(s.input_path))
        self._creator = Creator(self, self._journal, self._watch, s.create_mode)
        budget = s.shared_budget()  # warmed up before any grant: that blocks the loop a while
        await warm_up(budget, self._client, self._scan.items, self._scan.responses)
        try:
            async with (
                Poller(
                    self._client,
                    rpm=s.rpm,
                    budget=budget,
                    tpm=s.tpm,
                    tools=self._tools,
                    poll=s.poll_settings(),
                    clock=self._clock,
                    seed=s.seed,
                    webhooks=s.webhooks,
                    max_concurrent_creates=s.creates_limit(self._scan.responses),
                    hooks=[self._creator],  # it journals each create as the poller says
                ) as poller,
                self._serving(poller),
            ):
                self._poller = poller
                self._creator.attach(poller)
                with anyio.CancelScope() as self._scope:
                    async with anyio.create_task_group() as tg:
                        self._tg = tg
                        tg.start_soon(self._spawner)
                        if stop is not None:
                            tg.start_soon(self._stop_on, stop)
                        if on_progress is not None:
                            tg.start_soon(self._report, on_progress, progress_every_s)
                        tg.start_soon(stall.run)
                        self._reconcile()
                        await self._feed()
                        while self._pending and not self._stopping:
                            await self._wait_room()
                        if self._stopping:
                            await anyio.sleep_forever()  # until _shutdown cancels the scope
                        tg.cancel_scope.cancel()  # the reporter and the stop watcher
                self._final_stats = poller.stats()
                if on_progress is not None:
                    on_progress(self.progress())  # the last frame: N/N when all is done
                if self._stopping:
                    self._closing = True  # the poller aborts the jobs in flight: not results
                    raise _Abandon
        except* _Abandon:
            pass
        log.info(
            "batchpoll.run.finished" if not self._stopping else "batchpoll.run.stopped",
            done=self._tally.done,
            items=self._scan.items,
            requests=self._final_stats.requests,
        )

    def _serving(self, poller: Poller) -> AbstractAsyncContextManager[Any]:
        return contextlib.nullcontext() if self._serve is None else self._serve(poller)

    def _reconcile(self) -> None:
        """Settle what the journal already knows; re-track the jobs that were in flight."""
        for key, decision in self._plan.decisions.items():
            item, entry, action = decision.item, decision.entry, decision.action
            if action is Action.BAD:
                assert isinstance(item, BadLine)
                record = bad_line_record(key, item.line_no, item.error)
                if entry is not None and entry.outcome == record:
                    self._settled(record)
                else:
                    self._finish(key, item.line_no, "-", record, admitted=False)
                continue
            if action is Action.CREATE or entry is None:
                continue  # the feeder creates it
            self._tally.resumed += 1
            if action is Action.SETTLED:
                assert entry.outcome is not None
                self._settled(entry.outcome)
            elif action is Action.TRACK:
                self._pending += 1
                tracked = as_tracked(decision)
                self.watch_job(tracked, self._creator.track(tracked, entry.ids))
            elif action is Action.THREAD:
                assert isinstance(item, Item)
                self._pending += 1
                self._tg.start_soon(self._creator.resume_thread, item, entry.ids["thread_id"])
            else:  # SENDING: the create may have reached the server; never send it again
                self.finish_uncertain(as_tracked(decision), 0, resumed=True)
        if self._tally.resumed:
            log.info("batchpoll.run.resumed", items=self._tally.resumed, in_flight=self._pending)

    async def _feed(self) -> None:
        for item in iter_items(self.s.input_path, self.s.defaults, self.s.shard):
            if isinstance(item, BadLine) or self._plan.action(item.key) is not Action.CREATE:
                continue
            while self._pending >= self.s.in_flight_limit and not self._stopping:
                await self._wait_room()
            if self._stopping:
                return
            self._pending += 1
            if item.action == "track":
                self._journal.created(item.key, item.line_no, item.kind, item.ids, item.digest)
                self.watch_job(item, self._creator.track(item, item.ids))
                continue
            self._tg.start_soon(self._create_one, item)

    async def _create_one(self, item: Item) -> None:
        try:
            job = await self._creator.create(item)
        except AccountRefusedError as exc:
            self.fail(exc)
            return
        except PollerClosedError:
            return  # the run is stopping
        finally:
            if self._creator.idle():
                self._creating_done.set()
        if job is not None:
            self.watch_job(item, job)

    # --- outcomes -----------------------------------------------------------------------------

    def watch_job(self, item: Item, job: Job) -> None:
        job.add_done_callback(functools.partial(self._on_done, item))

    def _on_done(self, item: Item, outcome: Outcome) -> None:
        try:
            aborted = outcome.error is not None and outcome.error.type == ErrorCode.ABORTED
            if (self._closing and aborted) or self._fatal is not None:
                return  # not a result: the journal keeps the job in flight for the next run
            if outcome.error is not None and outcome.error.type == ErrorCode.AUTHENTICATION:
                self.fail(AuthenticationFailedError(f"the API rejected the key: {outcome.error}"))
                return
            if outcome.error is not None and outcome.error.type == ErrorCode.INSUFFICIENT_QUOTA:
                self.fail(QuotaExhaustedError(f"the account is out of quota: {outcome.error}"))
                return
            if self._creator.on_outcome(item, outcome):
                return  # an ambiguous create: the creator looks for the job
            extra, started_at = self._creator.release(item.key)
            record = output_record(outcome, item.line_no, extra_requests=extra)
            self._tally.outcome(outcome)
            latency = self._clock.now() - started_at if started_at is not None else None
            self._finish(item.key, item.line_no, item.kind, record, latency=latency)
        except Exception as exc:  # a full disk, ...: stop rather than lose results silently
            log.exception("batchpoll.run.internal_error", item=item.key)
            self.fail(exc)

    def finish_error(self, item: Item, error: ErrorInfo, requests: int) -> None:
        outcome = Outcome(item.key, item.kind, Status.ERROR, error=error, requests=requests)
        self._finish(item.key, item.line_no, item.kind, output_record(outcome, item.line_no))

    def finish_uncertain(self, item: Item, requests: int, *, resumed: bool = False) -> None:
        record = uncertain_record(item.key, item.kind, item.line_no, requests, resumed=resumed)
        log.warning("batchpoll.run.item_uncertain", item=item.key, line=item.line_no)
        self._finish(item.key, item.line_no, item.kind, record, admitted=not resumed)

    def dropped(self, item: Item) -> None:
        """Stopped before its create was sent: a new item again for the next run."""
        self._pending -= 1
        self._room.set()

    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Start a task of the run from anywhere, done-callbacks included (which run outside
        any task, where a task group cannot start one)."""
        self._spawns.put_nowait((fn, args))

    async def _spawner(self) -> None:
        while True:
            fn, args = await self._spawns.get()
            self._tg.start_soon(fn, *args)

    def _finish(
        self,
        key: str,
        line_no: int,
        kind: str,
        record: Mapping[str, Any],
        *,
        latency: float | None = None,
        admitted: bool = True,
    ) -> None:
        self._journal.done(key, line_no, kind, record)
        self._settled(record)
        if kind != "-":  # a bad line is no work: keep it out of requests per item
            self._tally.finished_now += 1
        if latency is not None:
            self._tally.latencies.append(latency)
        if admitted:
            self._pending -= 1
            self._room.set()

    def _settled(self, record: Mapping[str, Any]) -> None:
        self._output.write(record)
        self._tally.settled(record)

    # --- stopping -----------------------------------------------------------------------------

    def fail(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            log.info("batchpoll.run.fatal", error=str(exc))  # the caller reports it
        self._request_stop()

    def _unreachable(self, detail: str) -> None:
        self.fail(UnreachableError(f"cannot reach {self._client.base_url}: {detail}"))

    async def _stop_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._request_stop()

    def _request_stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._room.set()
        log.info("batchpoll.run.stopping", fatal=self._fatal is not None)
        self.spawn(self._shutdown)

    async def _shutdown(self) -> None:
        # Creates still waiting for a token are dropped (never sent); those on the wire get
        # their answer, so their ids are journaled instead of leaving them uncertain.
        self._creator.cancel_unsent()
        grace = self.s.stop_grace_s
        if self._fatal is not None:
            # The API cannot be used: those on the wire are refused at once (a closed port, a
            # 401), and once refused they are forgotten, so a corrected rerun starts afresh.
            # A hung one is cut soon: its item stays "may have been sent", as it should.
            grace = min(grace, _FATAL_GRACE_S)
        with anyio.move_on_after(grace):
            while not self._creator.idle():
                self._creating_done.clear()
                await self._creating_done.wait()
        self._scope.cancel()

    async def _wait_room(self) -> None:
        self._room.clear()
        await self._room.wait()

    async def _report(self, on_progress: Callable[[RunProgress], None], every_s: float) -> None:
        while True:
            on_progress(self.progress())
            await self._clock.sleep(every_s)

    def progress(self) -> RunProgress:
        unsent = self._creator.unsent()
        return self._tally.progress(
            self._poller,
            total=self._scan.items,
            in_flight=self._pending - unsent,
            queued=unsent,
            limit_rpm=self.s.rpm,
            elapsed_s=self._clock.now() - self._start,
        )

    def _summary(self) -> RunSummary:
        return self._tally.summary(
            self._scan.items,
            self._final_stats,
            elapsed_s=self._clock.now() - self._start,
            interrupted=self._stopping and self._fatal is None,
            tpm=self.s.tpm,
            retried=self._plan.retried,
            changed=tuple(self._plan.changed),
        )
