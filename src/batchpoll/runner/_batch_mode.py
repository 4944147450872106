"""``--via batch``: the items of a bulk run through OpenAI's Batch API instead of one job each.

The same input, output, journal and resume guarantees as a direct run (docs/batch.md):

- items become batch input files (``_batch_items``, ``_batch_parts.split``), ``custom_id`` =
  item id; each part is uploaded (``files.create(purpose="batch")``) and created
  (``batches.create``, metadata naming the run, the part and the attempt), both through the
  run's shared budget (``Poller.request`` / ``Poller.create``);
- the batches are tracked in the poller's heap (``BatchJobs`` with a learned schedule whose
  prior is ``BatchSettings.expect_s``; ``batch.*`` webhooks are hints);
- when a batch ends its output and error files are downloaded once and every item's result
  is journaled, with the part marked collected, in ONE transaction, then written to the
  output; an expired or cancelled batch's unrun lines go into one more batch;
- every upload and create is journaled before it leaves and its id right after; a rerun
  that finds a step that may have been sent looks for its file (by name, ``files.list``) or
  its batch (by metadata, ``batches.list``) before sending anything again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import replace
from typing import Any

import anyio
from openai import AsyncOpenAI

from .. import (
    BatchpollError,
    ConfigurationError,
    ErrorInfo,
    Job,
    KindTiming,
    LoopClock,
    Outcome,
    Poller,
    PollSettings,
    Status,
    logger,
)
from ._batch_items import BatchLine
from ._batch_parts import Part, PartsJournal, PartState
from ._batch_plan import plan_parts, settle_known
from ._batch_results import parse_file, record_for, unrun_record
from ._batch_send import PartFailed, PartSender, WatchedBatches, part_content
from ._batch_settings import BatchSettings
from ._binding import Binding
from ._errors import InputError
from ._items import scan_input
from ._output import OutputWriter
from ._plan import Action, Plan
from ._reconcile import make_plan, open_journal
from ._settings import RunSettings
from ._summary import RunProgress, RunSummary, Tally

__all__ = ["run_batch"]

log = logger  # silent until the application configures structlog


class _Abandon(Exception):
    """Leave the poller without waiting for the batches in flight."""


# A part refused for the enqueued-token quota goes again at most this many times in all.
_QUEUE_TRIES = 20
# Jobs a direct run left in flight: a batch run on that journal would lose track of them.
_DIRECT_IN_FLIGHT = (Action.TRACK, Action.THREAD, Action.UNCERTAIN)


async def run_batch(
    settings: RunSettings,
    client: AsyncOpenAI,
    *,
    tools: Mapping[str, Any] | None = None,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    progress_every_s: float = 0.5,
    clock: Any = None,
    serve: Callable[[Poller], AbstractAsyncContextManager[Any]] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run (or resume) ``settings.input_path`` through batches (``settings.batch``)."""
    assert settings.batch is not None
    if tools:
        raise ConfigurationError(
            "--tools cannot be used with --via batch: a batch has no tool loop (run those "
            "items without --via batch)"
        )
    run = _BatchRun(settings, settings.batch, client, clock, serve, on_notice)
    return await run.execute(stop, on_progress, progress_every_s)


class _BatchRun:
    def __init__(
        self,
        settings: RunSettings,
        batch: BatchSettings,
        client: AsyncOpenAI,
        clock: Any,
        serve: Callable[[Poller], AbstractAsyncContextManager[Any]] | None,
        on_notice: Callable[[str], None] | None,
    ) -> None:
        self.s, self.b = settings, batch
        self._client = client
        self._clock = clock
        self._serve = serve
        self._notice = on_notice or (lambda _: None)
        self._tally = Tally()
        self._lines: dict[str, BatchLine] = {}
        self._done: set[str] = set()  # items with a result (journaled)
        self._ended = anyio.Event()  # set (and replaced) each time a part is collected
        self._waits: dict[tuple[int, int], anyio.Event] = {}  # parts waiting for quota room
        self._open: dict[tuple[int, int], Part] = {}  # parts not collected yet
        self.counts = {"uploads": 0, "creates": 0, "downloads": 0, "lookups": 0, "found": 0}
        self._interrupted = False
        timing = KindTiming(
            prior_median_s=batch.expect_s,
            prior_sigma=1.0,
            min_interval_s=min(5.0, batch.expect_s / 20),
            max_interval_s=min(1800.0, max(batch.expect_s, 1.0)),
            timeout_s=26 * 3600.0,  # the 24 h window, then time to finalize
        )
        self._kind = WatchedBatches(timing)

    # --- before anything is sent --------------------------------------------------------------

    async def execute(
        self,
        stop: asyncio.Event | None,
        on_progress: Callable[[RunProgress], None] | None,
        progress_every_s: float,
    ) -> RunSummary:
        s = self.s
        self._clock = self._clock or LoopClock()
        scan = self._scan = scan_input(s.input_path, s.defaults)
        journal = self._journal = open_journal(s, self._client, scan)
        try:
            plan = make_plan(s, journal, scan, self._notice)
            in_flight = [k for k, d in plan.decisions.items() if d.action in _DIRECT_IN_FLIGHT]
            if in_flight:
                raise InputError(
                    f"the journal {str(s.journal)!r} has jobs of a direct run in flight "
                    f"({len(in_flight)}, e.g. id {in_flight[0]!r}): finish that run without "
                    "--via batch, or choose another -o"
                )
            self._parts = PartsJournal(journal.db)
            binding = Binding.of(s.base_url or str(self._client.base_url), self._client.api_key)
            self._run_id = self._parts.run_id(binding.base_url, binding.key_fp)
            self._output = OutputWriter(s.output_path).open()
            try:
                self._settle_known(plan)
                self._plan_parts()
                await self._run(stop, on_progress, progress_every_s)
            finally:
                self._output.close(keep=scan.keys)
        finally:
            journal.close()
        return self._summary()

    def _settle_known(self, plan: Plan) -> None:
        for record in settle_known(plan, self._journal, self._tally, self._lines, self.s):
            self._settled(record)

    def _plan_parts(self) -> None:
        self._open = plan_parts(self._parts, self._lines, self.b.max_lines, self.b.max_bytes)

    # --- the run ------------------------------------------------------------------------------

    async def _run(
        self,
        stop: asyncio.Event | None,
        on_progress: Callable[[RunProgress], None] | None,
        every_s: float,
    ) -> None:
        s = self.s
        poll = replace(s.poll or PollSettings(), ambiguous_creates="report")
        self._start = self._clock.now()
        serving: Callable[[Poller], AbstractAsyncContextManager[Any]] = self._serve or (
            lambda _: nullcontext()
        )
        try:
            await self._run_poller(s, poll, serving, stop, on_progress, every_s)
        except* _Abandon:
            pass  # stopped: the batches stay journaled, a rerun tracks them again
        except* BatchpollError as group:  # a rejected key, ...: the first, as itself
            raise _first(group) from None
        log.info("batchpoll.batch.finished", **self.counts, requests=self._final.requests)

    async def _run_poller(
        self,
        s: RunSettings,
        poll: PollSettings,
        serving: Callable[[Poller], AbstractAsyncContextManager[Any]],
        stop: asyncio.Event | None,
        on_progress: Callable[[RunProgress], None] | None,
        every_s: float,
    ) -> None:
        async with (
            Poller(
                self._client, rpm=s.rpm, budget=s.shared_budget(), poll=poll, clock=self._clock,
                seed=s.seed, webhooks=s.webhooks,
            ) as poller,
            serving(poller),
        ):  # fmt: skip
            self._poller = poller
            self._sender = PartSender(poller, self._parts, self._kind, self._run_id, self.counts)
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    if stop is not None:
                        tg.start_soon(self._stop_on, stop, scope)
                    if on_progress is not None:
                        tg.start_soon(self._report, on_progress, every_s)
                    async with anyio.create_task_group() as parts:
                        for part in list(self._open.values()):
                            parts.start_soon(self._part, part)
                    tg.cancel_scope.cancel()
            self._final = poller.stats()
            if on_progress is not None:
                on_progress(self.progress())
            if self._interrupted:
                raise _Abandon  # leave without waiting for the batches in flight

    async def _stop_on(self, stop: asyncio.Event, scope: anyio.CancelScope) -> None:
        await stop.wait()
        self._interrupted = True
        scope.cancel()  # every step is journaled: a rerun resumes where this one stopped

    async def _report(self, on_progress: Callable[[RunProgress], None], every_s: float) -> None:
        while True:
            on_progress(self.progress())
            await anyio.sleep(every_s)

    async def _part(self, first: Part) -> None:
        part: Part | None = first
        while part is not None:
            current = part
            try:
                part = await self._run_part(current)
            except PartFailed as failed:
                log.warning(
                    "batchpoll.batch.part_failed", part=current.label, error=failed.error.type
                )
                self._collect(current, Status.ERROR, {}, failed.error)
                part = None

    async def _run_part(self, part: Part) -> Part | None:
        room = self._waits.pop((part.part, part.attempt), None)
        if room is not None:
            await room.wait()
        if part.state in (PartState.PLANNED, PartState.UPLOADING):
            await self._sender.upload(part, part_content(part, self._lines))
        job: Job | None = None
        if part.state in (PartState.UPLOADED, PartState.CREATING):
            job = await self._sender.create(part)
        if job is None:
            assert part.batch_id is not None
            job = self._poller.track(
                self._kind, {"batch_id": part.batch_id}, key=f"batch-part-{part.label}"
            )
        outcome = await job
        return await self._finish(part, outcome)

    # --- upload and create, each journaled around the moment it leaves ------------------------

    async def _finish(self, part: Part, outcome: Outcome) -> Part | None:
        result = outcome.result or {}
        files: dict[str, Mapping[str, Any]] = {}
        if all(self._journal_has(k) for k in part.keys):
            return self._collect(part, outcome.status, files, outcome.error)  # no download
        for name in ("output_file_id", "error_file_id"):
            file_id = result.get(name)
            if isinstance(file_id, str):
                reply = await self._sender.call(
                    lambda fid=file_id: self._poller.client.files.content(fid),  # type: ignore[misc]
                    "files.content",
                )
                self.counts["downloads"] += 1
                files.update(parse_file(reply.text))
        return self._collect(part, outcome.status, files, outcome.error)

    def _journal_has(self, key: str) -> bool:
        return key in self._done

    def _collect(
        self,
        part: Part,
        status: Status,
        files: Mapping[str, Mapping[str, Any]],
        error: ErrorInfo | None,
    ) -> Part | None:
        batch_id = part.batch_id or ""
        records: list[dict[str, Any]] = []
        unrun: list[BatchLine] = []
        for key in part.keys:
            line = self._lines.get(key)
            if line is None or key in self._done:
                continue
            record = record_for(line, files.get(key), batch_id)
            if record is None:
                unrun.append(line)
            else:
                records.append(record)
        again = None
        resubmit = status in (Status.EXPIRED, Status.CANCELLED) and self.b.resubmit_expired
        queue_full = (
            status is Status.FAILED and error is not None and error.type == "token_limit_exceeded"
        )
        keys = [line.item.key for line in unrun]
        if unrun and resubmit and part.reason != "expired":  # once: not a re-submission's own
            again = Part(
                part.part, part.attempt + 1, PartState.PLANNED, part.url, keys, reason="expired"
            )
            log.info("batchpoll.batch.resubmitting", part=part.label, lines=len(keys))
        elif unrun and queue_full and len(self._open) > 1 and part.attempt < _QUEUE_TRIES:
            # The model's enqueued-token quota is full of this run's other batches: the part
            # goes again, whole, once one of them has ended.
            # Its file is fine: the new attempt creates a batch from it again.
            again = Part(
                part.part, part.attempt + 1, PartState.UPLOADED, part.url, keys, part.file_id,
                reason="queue",
            )  # fmt: skip
            log.info("batchpoll.batch.queue_full", part=part.label, lines=len(keys))
        elif unrun:
            records += [unrun_record(line, batch_id, status.value, error) for line in unrun]
        rows = [
            (
                r["id"],
                r["line"],
                self._lines[r["id"]].item.kind,
                r,
                self._lines[r["id"]].item.digest,
            )
            for r in records
        ]
        self._journal.done_many(rows, then=PartsJournal.collected(part, again))
        del self._open[(part.part, part.attempt)]
        ended, self._ended = self._ended, anyio.Event()
        ended.set()  # a part that waits for room in the quota may go
        if again is not None:
            self._open[(again.part, again.attempt)] = again
            if again.reason == "queue":
                self._waits[(again.part, again.attempt)] = self._ended
        for record in records:
            self._done.add(str(record["id"]))
            self._settled(record)
            self._tally.finished_now += 1
            usage = record.get("usage")
            if isinstance(usage, Mapping):
                self._tally.tokens_used += int(usage.get("total_tokens") or 0)
        return again

    def _settled(self, record: Mapping[str, Any]) -> None:
        self._output.write(record)
        self._tally.settled(record)
        self._done.add(str(record["id"]))

    # --- reporting ----------------------------------------------------------------------------

    def progress(self) -> RunProgress:
        st = self._poller.stats()
        elapsed_s = self._clock.now() - self._start
        return RunProgress(
            total=self._scan.items,
            done=self._tally.done,
            in_flight=sum(len(p.keys) for p in self._open.values()),
            requests=st.requests,
            rate_limited=st.rate_limited,
            rate_rpm=st.rate_rpm,
            limit_rpm=self.s.rpm,
            elapsed_s=elapsed_s,
            by_status=dict(self._tally.by_status),
            transient_errors=st.transient_errors,
            detail=self._kind.detail(elapsed_s),
        )

    def _summary(self) -> RunSummary:
        self._notice(
            "via batch: "
            + ", ".join(f"{n} {what}" for what, n in self.counts.items())
            + f"; {self._final.requests} requests in all"
        )
        return self._tally.summary(
            self._scan.items,
            self._final,
            elapsed_s=self._clock.now() - self._start,
            interrupted=self._interrupted,
            tpm=self.s.tpm,
        )


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc
