"""One tracked job: the scheduler's record of it, and the awaitable handle users hold."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Mapping, Sequence
from typing import Any

from ._outcome import Outcome, Usage
from .kinds import Ids, JobKind

__all__ = ["Job"]

# What the job does when its heap entry comes due.
CHECK, FETCH, SUBMIT = "check", "fetch", "submit"


class Job:
    """Handle of one tracked job. ``await job`` gives its ``Outcome`` (never raises for the
    job's own failure: a failed run is an outcome, not an exception)."""

    __slots__ = (
        "_future",
        "action",
        "chain",
        "checks",
        "checks_since_origin",
        "created_at",
        "deadline",
        "due",
        "error_streak",
        "expires_at",
        "heap_seq",
        "hinted",
        "ids",
        "key",
        "kind",
        "klass",
        "last_age",
        "model",
        "origin_at",
        "outputs",
        "params",
        "poll_after_s",
        "refusals",
        "requests",
        "resumed",
        "retried_ambiguous",
        "retry_after_s",
        "rounds",
        "usage",
        "usage_due",
    )

    def __init__(
        self,
        key: str,
        kind: JobKind,
        ids: Ids,
        *,
        created_at: float,
        deadline: float | None,
        future: asyncio.Future[Outcome],
    ) -> None:
        self.key = key
        self.kind = kind
        self.ids: Mapping[str, str] = ids
        self.created_at = created_at
        self.origin_at = created_at  # creation, or the last tool-output submit
        self.deadline = deadline
        self._future = future
        self.heap_seq = -1
        self.due = 0.0  # of its live heap entry (when heap_seq >= 0)
        self.action = CHECK
        self.checks = 0
        self.checks_since_origin = 0
        self.requests = 0
        self.resumed = False
        self.error_streak = 0
        self.retry_after_s: float | None = None
        self.poll_after_s: float | None = None
        self.expires_at: float | None = None
        self.klass: str | None = None  # duration class for the learned schedule; None: unknown age
        self.last_age = 0.0  # age (from origin_at) at the last check that saw the job running
        self.hinted = False  # a push said "done" and no check has looked since
        self.refusals = 0  # tool-output submits the server refused (400)
        self.outputs: Sequence[tuple[str, str]] = ()  # tool outputs awaiting a retried submit
        self.params: Mapping[str, Any] = {}  # the prepared create params (a chain re-sends them)
        self.model: str | None = None  # a metered job's model: its replies teach its tokens
        self.chain: list[str] | None = None  # a chained kind's server ids, first to latest
        self.rounds = 0  # rounds of tool calls answered
        self.retried_ambiguous = False  # its create was sent again after an ambiguous failure
        self.usage: Usage | None = None  # summed over the server objects seen finished
        self.usage_due = True  # the current server object's usage is not counted yet

    def __repr__(self) -> str:
        state = self._future.result().status.value if self.done() else self.action
        return f"<Job {self.key!r} {self.kind.name} {dict(self.ids)} {state}>"

    def __await__(self) -> Generator[Any, None, Outcome]:
        return asyncio.shield(self._future).__await__()

    def done(self) -> bool:
        return self._future.done()

    @property
    def outcome(self) -> Outcome | None:
        """The outcome once the job has ended, else None."""
        return self._future.result() if self._future.done() else None

    def add_done_callback(self, callback: Any) -> None:
        self._future.add_done_callback(lambda fut: callback(fut.result()))
