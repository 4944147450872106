"""Creating items so that none is ever created twice, and finding them again after a crash.

``fast`` (Assistants and Responses): one create request per item. Its intent is journaled as
``sending`` right before it leaves and its ids right after; a create that may have reached the
server without an id coming back (process killed, 5xx, timeout) is reported ``uncertain``,
because neither API can list what was created.

``safe`` (Assistants only): the thread is created first, with the item id in its metadata,
and journaled (``thread``); then the run is created on it, with the item id in the run's
metadata. A run can always be found again on its thread with ``runs.list``: after a crash or an
ambiguous failure the creator lists the thread's runs and tracks the run it finds, or creates
it when there is none. At worst an empty thread is left behind; a run is never duplicated.
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio
import openai

from .. import (
    AccountRefusedError,
    ConfigurationError,
    ErrorCode,
    ErrorInfo,
    Hooks,
    Job,
    Outcome,
    Poller,
    Priority,
    classify_failure,
    http_code,
)
from ..kinds import AssistantsRuns, Ids, ResponsesJobs
from ._items import ITEM_METADATA_KEY, Item
from ._journal import Journal
from ._watch import ConnectivityWatch, WatchedKind

__all__ = ["Creator", "RunHooks"]

T = TypeVar("T")
_ATTEMPTS = 3  # of a thread create or runs.list that fails transiently
_RECOVERIES = 3  # ambiguous run creates per item before it is reported uncertain
_SETTLE_S = 2.0  # after an ambiguous run create, let the server finish before listing


class RunHooks(Protocol):
    """What the creator needs from the run."""

    def watch_job(self, item: Item, job: Job) -> None: ...
    def finish_error(self, item: Item, error: ErrorInfo, requests: int) -> None: ...
    def finish_uncertain(self, item: Item, requests: int) -> None: ...
    def dropped(self, item: Item) -> None: ...
    def fail(self, exc: BaseException) -> None: ...
    def spawn(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None: ...


class _RequestFailed(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class _Creating:
    item: Item
    scope: anyio.CancelScope
    sent: bool = False  # the job create is on the wire: let it answer on stop


class Creator(Hooks):
    """Creates and re-finds items' jobs, and journals each create as the poller's create
    hooks tell it (``Poller(hooks=[creator])``, then ``attach(poller)``): what a failure
    means is the core's to say (``Hooks.create_*``); the creator only writes it down."""

    def __init__(
        self,
        run: RunHooks,
        journal: Journal,
        watch: ConnectivityWatch,
        mode: str,
    ) -> None:
        self._run = run
        self._journal = journal
        self._watch = watch
        self._mode = mode
        self._kinds = {
            "assistants": WatchedKind(AssistantsRuns(), watch),
            "responses": WatchedKind(ResponsesJobs(), watch),
        }
        self._creating: dict[str, _Creating] = {}
        self._threads: dict[str, str] = {}
        self._recoveries: dict[str, int] = {}
        self._extra: dict[str, int] = {}  # requests made for an item outside its job
        self._started_at: dict[str, float] = {}  # when its job was created or re-tracked
        self._stopping = False

    def attach(self, poller: Poller) -> None:
        """The poller whose hooks this is (made with ``hooks=[self]``)."""
        self._poller = poller

    # --- public to the run ------------------------------------------------------------------

    def idle(self) -> bool:
        return not self._creating

    def unsent(self) -> int:
        """Admitted creates still waiting for their turn (not on the wire)."""
        return sum(not creating.sent for creating in self._creating.values())

    def release(self, key: str) -> tuple[int, float | None]:
        """Forget a settled item: the requests it cost outside its job, and when its job was
        created (or re-tracked) on the poller's clock, for latencies."""
        self._threads.pop(key, None)
        self._recoveries.pop(key, None)
        return self._extra.pop(key, 0), self._started_at.pop(key, None)

    def track(self, item: Item, ids: Ids) -> Job:
        self._started_at[item.key] = self._poller.clock.now()
        params = item.params if item.action == "create" else None
        return self._poller.track(self._kinds[item.kind], ids, key=item.key, params=params)

    def cancel_unsent(self) -> None:
        """The run stops: drop every create that is not on the wire, now or when it comes
        back unsent (a refused connection, waiting to be retried)."""
        self._stopping = True
        for creating in self._creating.values():
            if not creating.sent:
                creating.scope.cancel()

    async def create(self, item: Item, *, thread_id: str | None = None) -> Job | None:
        """Create the item's job (or, given the thread of a safe create, find it there first).
        None: the item was settled here (an error) or dropped by a stop before it was sent."""
        scope = anyio.CancelScope()
        self._creating[item.key] = _Creating(item, scope)
        try:
            with scope:
                try:
                    return await self._start(item, thread_id)
                except _RequestFailed as failed:
                    self._run.finish_error(item, failed.error, self.release(item.key)[0])
                    return None
                except ConfigurationError as exc:  # the kind refused the params: nothing sent
                    error = ErrorInfo(ErrorCode.BAD_INPUT, f"line {item.line_no}: {exc}")
                    self._run.finish_error(item, error, self.release(item.key)[0])
                    return None
            self._run.dropped(item)
            return None
        finally:
            del self._creating[item.key]

    async def resume_thread(self, item: Item, thread_id: str, delay_s: float = 0.0) -> None:
        """A safe create whose run may exist: find it on its thread, else create it."""
        if delay_s:
            await self._poller.clock.sleep(delay_s)
        try:
            job = await self.create(item, thread_id=thread_id)
        except AccountRefusedError as exc:
            self._run.fail(exc)
            return
        if job is not None:
            self._run.watch_job(item, job)

    def on_outcome(self, item: Item, outcome: Outcome) -> bool:
        """True when the outcome is that of an ambiguous create, handled here: a safe
        create's run is looked for on its thread, any other is reported uncertain."""
        if outcome.error is None or outcome.error.type != ErrorCode.CREATE_UNCERTAIN:
            return False
        thread_id = self._threads.get(item.key)
        tries = self._recoveries.get(item.key, 0) + 1
        self._recoveries[item.key] = tries
        if thread_id is not None and tries <= _RECOVERIES:
            self._extra[item.key] = self._extra.get(item.key, 0) + outcome.requests
            self._run.spawn(self.resume_thread, item, thread_id, _SETTLE_S)
        else:
            self._run.finish_uncertain(item, outcome.requests + self.release(item.key)[0])
        return True

    # --- the poller's create hooks (Hooks.create_*) ---------------------------------------------

    def create_sending(self, job: str, continuation: bool) -> None:
        # A journal write that fails raises here, and the create is not sent (Hooks).
        if continuation:
            self._journal.continuing(job)
            return
        creating = self._creating[job]
        creating.sent = True
        self._started_at[job] = self._poller.clock.now()
        if not self._safe(creating.item):  # safe: the journaled thread already covers it
            item = creating.item
            self._journal.sending(job, item.line_no, item.kind, item.digest)

    def create_sent(self, job: str, ids: Ids, continuation: bool) -> None:
        if continuation:
            self._journal.continued(job, ids)
            return
        item = self._creating[job].item
        self._journal.created(job, item.line_no, item.kind, ids)

    def create_not_sent(self, job: str, continuation: bool) -> None:
        if continuation:
            self._journal.not_continued(job)
            return
        creating = self._creating[job]
        creating.sent = False
        if not self._safe(creating.item):
            self._journal.forget(job)
        if self._stopping:  # the poller would retry it: drop it instead
            creating.scope.cancel()

    def create_maybe_sent(
        self, job: str, continuation: bool, error: ErrorInfo, resend: bool
    ) -> None:
        # The journal keeps the intent ("may have been sent") until a reply settles it. A
        # resend is the policy's; a run that stops sends nothing new: the create is dropped
        # in its backoff, and the next run finds its intent in the journal.
        creating = None if continuation else self._creating.get(job)
        if resend and self._stopping and creating is not None:
            creating.scope.cancel()

    # --- internals ------------------------------------------------------------------------------

    def _safe(self, item: Item) -> bool:
        # A journaled thread is safe mode's whatever the mode now (--create-mode may change).
        return (self._mode == "safe" and item.kind == "assistants") or item.key in self._threads

    async def _start(self, item: Item, thread_id: str | None) -> Job:
        kind = self._kinds[item.kind]
        if not self._safe(item) and thread_id is None:
            return await self._poller.create(
                kind, item.params, key=item.key, duration_hint_s=item.hint_s
            )
        # Safe mode looks for an ambiguous run on its thread: never a blind second create.
        if thread_id is not None:
            try:
                ids = await self._find_run(item, thread_id)
            except _RequestFailed as failed:
                if failed.error.type != http_code(404):
                    raise
                thread_id = None  # the thread is gone, and with it any run: start over
            else:
                if ids is not None:
                    self._journal.created(item.key, item.line_no, item.kind, ids)
                    return self.track(item, ids)
        if thread_id is None:
            thread = item.params["thread"]
            created = await self._call(
                item.key,
                lambda: self._client.beta.threads.create(**thread),
                Priority.CREATE,
            )
            thread_id = created.id
            self._journal.thread(item.key, item.line_no, item.kind, thread_id, item.digest)
        self._threads[item.key] = thread_id
        params = {k: v for k, v in item.params.items() if k != "thread"}
        return await self._poller.create(
            kind,
            {**params, "thread_id": thread_id},
            key=item.key,
            duration_hint_s=item.hint_s,
            ambiguous_creates="report",
        )

    @property
    def _client(self) -> openai.AsyncOpenAI:
        return self._poller.client

    async def _find_run(self, item: Item, thread_id: str) -> Ids | None:
        page = await self._call(
            item.key,
            lambda: self._client.beta.threads.runs.list(thread_id, limit=100, order="desc"),
            Priority.CHECK,
        )
        for run in page.data:
            if (run.metadata or {}).get(ITEM_METADATA_KEY) == item.key:
                return {"thread_id": thread_id, "run_id": run.id}
        return None

    async def _call(self, key: str, make: Callable[[], Awaitable[T]], priority: Priority) -> T:
        """One request outside a job, through the poller's budget; a transient failure is
        tried again a few times (these requests are safe to repeat)."""
        try:
            return await self._poller.request(
                lambda: self._counted(key, make), priority=priority, retries=_ATTEMPTS - 1
            )
        except AccountRefusedError:
            raise  # the poller stopped: the run fails with it
        except Exception as exc:
            raise _RequestFailed(classify_failure(exc).error) from None

    async def _counted(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        self._extra[key] = self._extra.get(key, 0) + 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Assistants API, see kinds
            return await self._watch.watch(make())
