"""The job-kind interface: what the scheduler needs from one kind of asynchronous job.

Every coroutine of a kind makes exactly ONE HTTP request (the poller charges one budget token
per call, and retries by calling again later) and returns the response headers with the value,
so the budget can learn from ``x-ratelimit-*`` and the policy from ``openai-poll-after-ms``.

Tool use comes in two shapes. An Assistants run stops in ``requires_action`` and resumes, the
same run, once its outputs are submitted. A background response ends ``completed`` with
``function_call`` items, and the answer is a NEW response that continues it
(``previous_response_id``): one job is then a chain of responses. Both look the same to the
scheduler: a snapshot with ``status == "requires_action"`` and ``tool_calls``, and a
``submit_tool_outputs`` that returns the ids the job has from then on (new ones for a chain).
A new kind (batches, fine-tuning jobs, ...) is one class implementing ``JobKind``; the
scheduler does not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from openai import AsyncOpenAI

from .._outcome import ErrorInfo, Usage
from .._toolspec import Tool

__all__ = ["TERMINAL", "Ids", "JobKind", "Reply", "Snapshot", "ToolCall"]

T = TypeVar("T")
Ids = Mapping[str, str]

#: API states after which a job never changes again.
TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})


@dataclass(frozen=True, slots=True)
class Reply(Generic[T]):
    value: T
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the API sends it


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One observation of a job, normalised across kinds."""

    status: str
    tool_calls: tuple[ToolCall, ...] = ()  # non-empty only when status == "requires_action"
    error: ErrorInfo | None = None
    output_text: str | None = None  # when the status object itself carries the result
    expires_at: float | None = None  # Unix seconds; the job expires if not finished by then
    started_at: float | None = None  # server timestamps (exact), for learning durations
    finished_at: float | None = None
    usage: Usage | None = None  # tokens of this server object, once it has finished
    model: str | None = None  # the model the server ran (a tracked chain continues with it)
    # What a long job produced, when it is not a text: a batch's file ids and request counts,
    # a fine-tuning job's model, a file batch's counts (becomes ``Outcome.result``).
    result: Mapping[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class JobKind(Protocol):
    """One kind of asynchronous job. Implementations are stateless and shareable.

    Optional: ``timing``, a ``KindTiming`` used in place of the poller's check settings
    (long jobs: batches, fine-tuning jobs).

    Optional: ``webhook_key(ids) -> str | None``, the server id that OpenAI's webhook events
    name (``data.id``) for a kind it pushes events for; ``Poller.notify_done(that id)`` then
    makes the job due, and with ``WebhookSettings`` the kind is polled only as a safety net.
    A kind that wraps another must forward it.
    """

    @property
    def name(self) -> str: ...

    @property
    def chained(self) -> bool:
        """True when answering tool calls starts a new server object (a response continuing
        the last one), False when the same job resumes (an Assistants run)."""
        ...

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Tool]) -> Mapping[str, Any]:
        """The create params as sent: validated (``ConfigurationError`` on misuse) and with
        the poller's tool schemas added where the kind declares tools per request."""
        ...

    def metered(
        self, ids: Ids, outputs: Sequence[tuple[str, str]] | None, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The body that a tokens-per-minute limit charges: the create's (``outputs`` None)
        or the tool-output request's. None when the kind's requests carry no prompt to
        estimate (their cost can't be known before the server reports it)."""
        ...

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        """Start a job; return its server ids and first snapshot."""
        ...

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]: ...

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        """True when a completed job's result needs one more request (``fetch_output``)."""
        ...

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]: ...

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        """Answer ``requires_action`` with ``(tool_call_id, output)`` pairs, all calls of the
        round at once; return the job's ids from now on and the first snapshot. ``params``
        are the job's prepared create params (a continuation re-sends model, tools, ...)."""
        ...

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]: ...
