"""``Job``: the handle users hold on one tracked job; the scheduler's record is ``_record``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

from ._outcome import Outcome
from ._record import Record
from .kinds import Ids, JobKind

__all__ = ["Job"]


class Job:
    """Handle of one tracked job. ``await job`` gives its ``Outcome`` (never raises for the
    job's own failure: a failed run is an outcome, not an exception)."""

    __slots__ = ("_record",)

    def __init__(self, record: Record) -> None:
        self._record = record

    @property
    def key(self) -> str:
        return self._record.key

    @property
    def kind(self) -> JobKind:
        return self._record.kind

    @property
    def ids(self) -> Ids:
        """Its server ids now (a chain's: those of its latest response)."""
        return self._record.ids

    def __repr__(self) -> str:
        record = self._record
        state = record.outcome.status.value if record.outcome is not None else record.action
        return f"<Job {record.key!r} {record.kind.name} {record.ids} {state}>"

    def __await__(self) -> Generator[Any, None, Outcome]:
        return asyncio.shield(self._record.waiter()).__await__()

    def done(self) -> bool:
        return self._record.outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        """The outcome once the job has ended, else None."""
        return self._record.outcome

    def add_done_callback(self, callback: Callable[[Outcome], Any]) -> None:
        """``callback(outcome)`` once the job has ended (soon after, if it already has)."""
        self._record.waiter().add_done_callback(lambda fut: callback(fut.result()))
