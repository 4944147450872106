"""Uploads and creates of batch parts, each journaled around the moment it leaves, and the
lookups that find a step a stopped run may have sent (``files.list`` by file name,
``batches.list`` by metadata) before anything is sent again.

After a restart, every part whose step "may have been sent" is looked for in ONE listing
(shared by all of them): a rerun after a kill costs a request or two, not one per part.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import openai
from openai import AsyncOpenAI

from .. import ErrorCode, ErrorInfo, Job, KindTiming, Poller, backoff_s, http_code, logger
from ..kinds import BatchJobs, Ids, Reply, Snapshot
from ._batch_items import BatchLine
from ._batch_parts import Part, PartsJournal, PartState

__all__ = ["PartFailed", "PartSender", "WatchedBatches", "part_content"]

log = logger  # silent until the application configures structlog
T = TypeVar("T")

_CALL_TRIES = 8  # a list or a download failing transiently: tried this often, backing off
_SEND_TRIES = 4  # an upload or create that failed ambiguously: looked for, then sent again
_LOOKUP_PAGES = 20  # files.list / batches.list pages read when looking for a lost step
_LOOKUP_SLACK_S = 600.0  # a batch created this long before its step was journaled: not ours


class PartFailed(Exception):
    """A part that cannot run (its upload or create refused): its items get this error."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


class WatchedBatches(BatchJobs):
    """``BatchJobs`` that keeps each batch's last status and request counts (progress)."""

    def __init__(self, timing: KindTiming) -> None:
        super().__init__(timing)
        self.seen: dict[str, tuple[str, Mapping[str, int]]] = {}

    def _note(self, batch_id: str, snap: Snapshot) -> None:
        counts = (snap.result or {}).get("request_counts") or {}
        self.seen[batch_id] = (snap.status, counts)

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        reply = await super().create(client, params)
        ids, snap = reply.value
        self._note(ids["batch_id"], snap)
        return reply

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        reply = await super().check(client, ids)
        self._note(ids["batch_id"], reply.value)
        return reply

    def detail(self, elapsed_s: float) -> str:
        """Batches by state, their lines done and failed (``request_counts``), and an ETA
        from the pace of the lines so far."""
        states: dict[str, int] = {}
        total = ok = failed = 0
        for status, counts in self.seen.values():
            states[status] = states.get(status, 0) + 1
            total += int(counts.get("total", 0))
            ok += int(counts.get("completed", 0))
            failed += int(counts.get("failed", 0))
        shown = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        eta = ""
        done = ok + failed
        if 0 < done < total:
            eta = f" · ETA ~{elapsed_s * (total - done) / done:.0f} s"
        return f"batches: {shown or 'none yet'} · lines {ok} done, {failed} failed{eta}"


def part_content(part: Part, lines: Mapping[str, BatchLine]) -> bytes:
    """A part's batch input file, rebuilt from the input (the same bytes on every rerun)."""
    missing = [k for k in part.keys if k not in lines]
    if missing:
        raise PartFailed(
            ErrorInfo(
                "input_changed",
                f"the input no longer has the lines of batch part {part.label} as they were "
                f"planned (e.g. id {missing[0]!r}); restore them or choose another -o",
            )
        )
    return "".join(lines[k].text + "\n" for k in part.keys).encode("utf-8")


class PartSender:
    """Sends the steps of the parts of one run (``run_id``) through ``poller``."""

    def __init__(
        self,
        poller: Poller,
        parts: PartsJournal,
        kind: BatchJobs,
        run_id: str,
        counts: dict[str, int],
    ) -> None:
        self._poller = poller
        self._parts = parts
        self._kind = kind
        self._run_id = run_id
        self.counts = counts
        self._lock = anyio.Lock()
        self._uniform = random.Random(run_id).random  # the upload's backoff jitter
        self._files: dict[str, str] | None = None  # one listing for every restarted part
        self._batches: dict[tuple[str, str, str], str] | None = None

    async def call(self, fn: Callable[[], Awaitable[T]], what: str) -> T:
        """A request that changes nothing (a list, a download) through the budget, tried
        again after a transient failure (5xx, a lost connection, a timeout); any other
        failure fails the part (``PartFailed``) rather than the run."""
        try:  # the poller's own retry loop and backoff, through the budget
            return await self._poller.request(fn, retries=_CALL_TRIES - 1)
        except openai.APIStatusError as exc:
            if exc.status_code < 500:
                raise PartFailed(_api_error(what, exc)) from None
        except (openai.APIConnectionError, openai.APITimeoutError):
            pass
        raise PartFailed(ErrorInfo(ErrorCode.UNAVAILABLE, f"{what}: failed {_CALL_TRIES} times"))

    def file_name(self, part: Part) -> str:
        return f"batchpoll-{self._run_id}-part{part.part}-{part.attempt}.jsonl"

    def _meta(self, part: Part) -> dict[str, str]:
        return {
            "batchpoll_run": self._run_id,
            "batchpoll_part": str(part.part),
            "batchpoll_attempt": str(part.attempt),
        }

    async def upload(self, part: Part, data: bytes) -> None:
        name = self.file_name(part)
        if part.state is PartState.UPLOADING:  # a run stopped while it may have been sent
            found = (await self._listed_files()).get(name)
            if found is not None:
                self._parts.move(part, PartState.UPLOADED, file_id=found)
                return
        for attempt in range(1, _SEND_TRIES + 1):
            self._parts.move(part, PartState.UPLOADING, self._poller.clock.wall())
            try:
                uploaded = await self._poller.request(
                    lambda: self._poller.client.files.create(file=(name, data), purpose="batch")
                )
            except openai.APIStatusError as exc:
                if exc.status_code < 500:
                    raise PartFailed(_api_error("upload", exc)) from None
            except (openai.APIConnectionError, openai.APITimeoutError):
                pass
            else:
                self.counts["uploads"] += 1
                self._parts.move(part, PartState.UPLOADED, file_id=uploaded.id)
                log.info("batchpoll.batch.uploaded", part=part.label, file_id=uploaded.id)
                return
            # The upload may have landed: look before sending it again.
            wait_s = backoff_s(attempt, base_s=2.0, max_s=30.0, uniform=self._uniform)
            await self._poller.clock.sleep(wait_s)
            found = await self._find_file(name)
            if found is not None:
                self._parts.move(part, PartState.UPLOADED, file_id=found)
                return
        raise PartFailed(
            ErrorInfo(ErrorCode.UPLOAD_FAILED, f"batch part {part.label}: upload failed")
        )

    async def create(self, part: Part) -> Job | None:
        """The batch of a part; None when it was found (then tracked by id)."""
        if part.state is PartState.CREATING:  # a run stopped while it may have been sent
            found = (await self._listed_batches(part)).get(_triple(self._meta(part)))
            if found is not None:
                self._parts.move(part, PartState.CREATED, batch_id=found)
                return None
        params = {
            "input_file_id": part.file_id,
            "endpoint": part.url,
            "completion_window": "24h",
            "metadata": self._meta(part),
        }
        for _ in range(_SEND_TRIES):
            self._parts.move(part, PartState.CREATING, self._poller.clock.wall())
            job = await self._poller.create(self._kind, params, key=f"batch-part-{part.label}")
            outcome = job.outcome
            if outcome is None or outcome.error is None:
                self.counts["creates"] += 1
                self._parts.move(part, PartState.CREATED, batch_id=job.ids["batch_id"])
                log.info("batchpoll.batch.created", part=part.label, batch_id=job.ids["batch_id"])
                return job
            if outcome.error.type != ErrorCode.CREATE_UNCERTAIN:
                raise PartFailed(outcome.error)
            found = await self._find_batch(part)  # the create may have landed
            if found is not None:
                self._parts.move(part, PartState.CREATED, batch_id=found)
                return None
        raise PartFailed(
            ErrorInfo(ErrorCode.CREATE_FAILED, f"batch part {part.label}: create failed")
        )

    async def _listed_files(self) -> Mapping[str, str]:
        async with self._lock:
            if self._files is None:
                self._files = await self._list_files()
            return self._files

    async def _listed_batches(self, part: Part) -> Mapping[tuple[str, str, str], str]:
        async with self._lock:
            if self._batches is None:
                self._batches = await self._list_batches(part.sent_at)
            return self._batches

    async def _find_file(self, name: str) -> str | None:
        """After a failure in this run: a fresh listing."""
        return (await self._list_files()).get(name)

    async def _find_batch(self, part: Part) -> str | None:
        return (await self._list_batches(part.sent_at)).get(_triple(self._meta(part)))

    async def _list_files(self) -> dict[str, str]:
        """This run's batch input files by name (``files.list``, newest first)."""
        found: dict[str, str] = {}
        prefix = f"batchpoll-{self._run_id}-"
        after: str | None = None
        for _ in range(_LOOKUP_PAGES):
            self.counts["lookups"] += 1
            kw: dict[str, Any] = {"purpose": "batch", "limit": 10_000}
            if after is not None:
                kw["after"] = after
            page = await self.call(
                lambda kw=kw: self._poller.client.files.list(**kw),  # type: ignore[misc]
                "files.list",
            )
            for file in page.data:
                if file.filename.startswith(prefix):
                    found.setdefault(file.filename, file.id)
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
        self.counts["found"] += len(found)
        return found

    async def _list_batches(self, sent_at: float | None) -> dict[tuple[str, str, str], str]:
        """This run's batches by (run, part, attempt) of their metadata (``batches.list``,
        newest first, down to the oldest step that may have been sent)."""
        found: dict[tuple[str, str, str], str] = {}
        since = (
            min(
                [p.sent_at for p in self._parts.parts() if p.sent_at is not None]
                or [sent_at or 0.0]
            )
            - _LOOKUP_SLACK_S
        )
        after: str | None = None
        for _ in range(_LOOKUP_PAGES):
            self.counts["lookups"] += 1
            kw: dict[str, Any] = {"limit": 100}
            if after is not None:
                kw["after"] = after
            page = await self.call(
                lambda kw=kw: self._poller.client.batches.list(**kw),  # type: ignore[misc]
                "batches.list",
            )
            for batch in page.data:
                meta = batch.metadata or {}
                if meta.get("batchpoll_run") == self._run_id:
                    found.setdefault(_triple(meta), batch.id)
            if not page.has_more or not page.data or page.data[-1].created_at < since:
                break  # newest first: the rest is older than any step of this run
            after = page.data[-1].id
        self.counts["found"] += len(found)
        return found


def _triple(meta: Mapping[str, str]) -> tuple[str, str, str]:
    return (
        meta.get("batchpoll_run", ""),
        meta.get("batchpoll_part", ""),
        meta.get("batchpoll_attempt", ""),
    )


def _api_error(what: str, exc: openai.APIStatusError) -> ErrorInfo:
    body = exc.body if isinstance(exc.body, Mapping) else {}
    code = body.get("code") or body.get("type") or http_code(exc.status_code)
    return ErrorInfo(str(code), f"{what} refused: HTTP {exc.status_code}: {exc.message}")

    # --- results ------------------------------------------------------------------------------
