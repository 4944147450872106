"""The job-kind interface: what the scheduler needs from one kind of asynchronous job.

Every coroutine of a kind makes exactly ONE HTTP request (the poller charges one budget token
per call, and retries by calling again later) and returns the response headers with the value,
so the budget can learn from ``x-ratelimit-*`` and the policy from ``openai-poll-after-ms``.
A new kind (batches, fine-tuning jobs, ...) is one class implementing ``JobKind``; the
scheduler does not change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from openai import AsyncOpenAI

from .._outcome import ErrorInfo

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

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class JobKind(Protocol):
    """One kind of asynchronous job. Implementations are stateless and shareable.

    Optional: ``webhook_key(ids) -> str | None``, the server id that OpenAI's webhook events
    name (``data.id``) for a kind it pushes events for; ``Poller.notify_done(that id)`` then
    makes the job due, and with ``WebhookSettings`` the kind is polled only as a safety net.
    A kind that wraps another must forward it.
    """

    @property
    def name(self) -> str: ...

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
        self, client: AsyncOpenAI, ids: Ids, outputs: Sequence[tuple[str, str]]
    ) -> Reply[Snapshot]:
        """Answer ``requires_action``: ``outputs`` is ``(tool_call_id, output)`` pairs."""
        ...

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]: ...
