"""The scheduler's record of one tracked job: what a check, a step and the planner read.

Users never see it: they hold a ``Job`` (``_job.py``), a handle onto the record. The record
is what 100,000 tracked jobs cost in memory, so it keeps as slots only what every waiting job
needs; the fields that only some jobs ever set (a created job's params, a chain's ids, tool
outputs awaiting a retried submit, usage, hints from the server) live on a side record that is
allocated the first time one of them takes a value other than its default. The outcome's
future is allocated only when someone awaits it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from ._heap import Key
from ._outcome import ErrorInfo, Outcome, Status, Usage
from .kinds import Ids, JobKind

__all__ = ["CHECK", "FETCH", "SUBMIT", "Record"]

T = TypeVar("T")

# What the job does when its heap entry comes due.
CHECK, FETCH, SUBMIT = "check", "fetch", "submit"

_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})
# The names of a job's server ids, shared by every job of the same shape ("thread_id",
# "run_id"): a record stores only the values.
_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


class _Side:
    """The fields few jobs set (see the module docstring), with their defaults."""

    __slots__ = (
        "action",
        "chain",
        "error_streak",
        "expires_at",
        "first_origin_at",
        "hinted",
        "klass",
        "model",
        "outputs",
        "params",
        "poll_after_s",
        "refusals",
        "resumed",
        "retried_ambiguous",
        "retry_after_s",
        "rounds",
        "usage",
        "usage_due",
        "waiter",
    )

    action: str
    chain: list[str] | None
    error_streak: int
    expires_at: float | None
    first_origin_at: float | None
    hinted: bool
    klass: str | None
    model: str | None
    outputs: Sequence[tuple[str, str]]
    params: Mapping[str, Any]
    poll_after_s: float | None
    refusals: int
    resumed: bool
    retried_ambiguous: bool
    retry_after_s: float | None
    rounds: int
    usage: Usage | None
    usage_due: bool
    waiter: asyncio.Future[Outcome] | None

    def __init__(self) -> None:
        for name, default in _DEFAULTS.items():
            setattr(self, name, default)


_DEFAULTS: dict[str, Any] = {
    "action": CHECK,  # what the job does when its heap entry comes due
    "chain": None,  # a chained kind's server ids, first to latest
    "error_streak": 0,  # consecutive transient failures of its last request
    "expires_at": None,  # a run's expires_at (Unix time)
    "first_origin_at": None,  # its creation, once a submit moved origin_at on
    "hinted": False,  # a push said "done" and no check has looked since
    "klass": None,  # duration class for the learned schedule (a created job's); None: unknown age
    "model": None,  # a metered job's model: its replies teach its tokens
    "outputs": (),  # tool outputs awaiting a retried submit
    "params": _NO_PARAMS,  # the prepared create params (a chain re-sends them)
    "poll_after_s": None,  # the server's latest openai-poll-after-ms
    "refusals": 0,  # tool-output submits the server refused (400)
    "resumed": False,  # the origin is a tool-output submit, not the creation
    "retried_ambiguous": False,  # its create was sent again after an ambiguous failure
    "retry_after_s": None,  # the server's retry-after on the last failure
    "rounds": 0,  # rounds of tool calls answered
    "usage": None,  # summed over the server objects seen finished
    "usage_due": True,  # the current server object's usage is not counted yet
    "waiter": None,  # the future of the outcome, once someone awaits it
}


class _OnSide(Generic[T]):
    """A field of the side record, read as its default while there is none."""

    __slots__ = ("_default", "_name")

    def __init__(self, name: str | None = None) -> None:
        self._name = name or ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = self._name or name
        self._default = _DEFAULTS[self._name]

    def __get__(self, record: Record, owner: type | None = None) -> T:
        return getattr(record.extras, self._name)  # type: ignore[no-any-return]

    def __set__(self, record: Record, value: T) -> None:
        side = record.extras
        if side is _NO_SIDE:
            if value is self._default or value == self._default:
                return
            side = record.extras = _Side()
        setattr(side, self._name, value)


# The side record of every job that has none of its own: the defaults, shared (read only).
_NO_SIDE = _Side()


class Record:
    """One tracked job as the scheduler sees it."""

    __slots__ = (
        "_id_names",
        "_id_values",
        "_next",
        "_prev",
        "checks",
        "checks_since_origin",
        "deadline",
        "extras",
        "heap_key",
        "key",
        "kind",
        "last_age",
        "origin_at",
        "outcome",
        "requests",
    )

    action: _OnSide[str] = _OnSide()
    chain: _OnSide[list[str] | None] = _OnSide()
    error_streak: _OnSide[int] = _OnSide()
    expires_at: _OnSide[float | None] = _OnSide()
    first_origin_at: _OnSide[float | None] = _OnSide()
    hinted: _OnSide[bool] = _OnSide()
    klass: _OnSide[str | None] = _OnSide()
    model: _OnSide[str | None] = _OnSide()
    outputs: _OnSide[Sequence[tuple[str, str]]] = _OnSide()
    params: _OnSide[Mapping[str, Any]] = _OnSide()
    poll_after_s: _OnSide[float | None] = _OnSide()
    refusals: _OnSide[int] = _OnSide()
    resumed: _OnSide[bool] = _OnSide()
    retried_ambiguous: _OnSide[bool] = _OnSide()
    retry_after_s: _OnSide[float | None] = _OnSide()
    rounds: _OnSide[int] = _OnSide()
    usage: _OnSide[Usage | None] = _OnSide()
    usage_due: _OnSide[bool] = _OnSide()
    _waiter: _OnSide[asyncio.Future[Outcome] | None] = _OnSide("waiter")

    def __init__(self, key: str, kind: JobKind, ids: Ids, *, created_at: float) -> None:
        self.key = key
        self.kind = kind
        self.ids = ids
        self.origin_at = created_at  # creation, or the last tool-output submit
        self.deadline: float | None = None
        # The side fields to READ in a loop over many jobs: one slot read, then plain slot
        # reads (a field read through the record costs a Python call). A job without a side
        # record of its own shares the defaults' (never write through this).
        self.extras: _Side = _NO_SIDE
        self._prev: Record | None = None  # links of the poller's live jobs (_live.LiveJobs)
        self._next: Record | None = None
        self.outcome: Outcome | None = None
        self.heap_key: Key | None = None  # its due time in the heap, when scheduled
        self.checks = 0
        self.checks_since_origin = 0
        self.requests = 0
        self.last_age = 0.0  # age (from origin_at) at the last check that saw the job running

    @property
    def due(self) -> float:
        """When its check is due: its heap key (``_heap``), -inf when it is not scheduled."""
        key = self.heap_key
        return -math.inf if key is None else key

    @property
    def created_at(self) -> float:
        first = self.first_origin_at
        return self.origin_at if first is None else first

    def restart_origin(self, now: float) -> None:
        """A tool-output submit: its age and checks count from ``now`` again."""
        if self.first_origin_at is None:
            self.first_origin_at = self.origin_at
        self.origin_at, self.checks_since_origin, self.resumed = now, 0, True

    @property
    def ids(self) -> Ids:
        """The job's server ids (a fresh dict: the record keeps only their values)."""
        values = self._id_values
        if type(values) is str:
            return {self._id_names[0]: values}
        return dict(zip(self._id_names, values, strict=True))

    @ids.setter
    def ids(self, ids: Ids) -> None:
        names = tuple(ids)
        self._id_names = _NAMES.setdefault(names, names)
        # One id (a response, a batch) is kept as the string itself: 48 bytes less per job.
        values = tuple(ids.values())
        self._id_values: tuple[str, ...] | str = values[0] if len(values) == 1 else values

    def done(self) -> bool:
        return self.outcome is not None

    def outcome_of(
        self,
        status: Status,
        now: float,
        output_text: str | None = None,
        error: ErrorInfo | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """The outcome the job ends with at ``now`` (its counts, ids and chain so far)."""
        return Outcome(
            key=self.key,
            kind=self.kind.name,
            status=status,
            output_text=output_text,
            ids=dict(self.ids),
            error=error,
            checks=self.checks,
            requests=self.requests,
            elapsed_s=now - self.created_at,
            response_ids=tuple(self.chain or ()),
            tool_rounds=self.rounds,
            usage=self.usage,
            retried_ambiguous_create=self.retried_ambiguous,
            result=result,
        )

    def resolve(self, outcome: Outcome) -> None:
        """The job ended: its outcome, to whoever awaits it."""
        self.outcome = outcome
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)

    def waiter(self) -> asyncio.Future[Outcome]:
        """The future of the outcome (made on first use: most records are never awaited one
        by one)."""
        waiter = self._waiter
        if waiter is None:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            if self.outcome is not None:
                waiter.set_result(self.outcome)
        return waiter
