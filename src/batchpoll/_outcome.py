"""Outcomes are values: what happened to one job, frozen once it is known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = ["ErrorInfo", "Outcome", "Status", "Usage"]


class Status(StrEnum):
    """Final status of a job. The first five are the API's own terminal states."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    INCOMPLETE = "incomplete"
    TIMED_OUT = "timed_out"  # our deadline (timeout_s) passed first
    ERROR = "error"  # the job could not be followed: 4xx, bad tool, rejected key, ...

    @property
    def ok(self) -> bool:
        return self is Status.COMPLETED


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why a job did not complete: ``type`` is a stable short code, ``message`` is for humans."""

    type: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a job used, as the API reports them (a chain's responses summed)."""

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one tracked job.

    ``ids`` holds the server's identifiers (``thread_id`` and ``run_id``, or ``response_id``).
    ``checks`` counts status retrieves; ``requests`` counts every HTTP attempt charged to the
    budget for this job (create, checks, tool submits, reply fetch, cancel, retries).
    ``response_ids`` is a Responses job's whole chain, in order: the first response, then one
    per round of tool calls answered (``tool_rounds``); ``usage`` sums the chain's tokens.
    """

    key: str
    kind: str
    status: Status
    output_text: str | None = None
    ids: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    error: ErrorInfo | None = None
    checks: int = 0
    requests: int = 0
    elapsed_s: float = 0.0
    response_ids: tuple[str, ...] = ()
    tool_rounds: int = 0
    usage: Usage | None = None
    # The create was sent again after a failure that left it ambiguous (PollSettings.
    # ambiguous_creates): the server may hold a second job for this one.
    retried_ambiguous_create: bool = False
    # What a long job produced when it is not a text (None for responses and runs): a
    # batch's output_file_id, error_file_id and request_counts; a fine-tuning job's
    # fine_tuned_model; a vector-store file batch's file_counts.
    result: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status.ok

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the runner's output line)."""
        return {
            "id": self.key,
            "kind": self.kind,
            "status": self.status.value,
            "output_text": self.output_text,
            **dict(self.ids),
            "error": self.error.as_dict() if self.error else None,
            "checks": self.checks,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "response_ids": list(self.response_ids),
            "tool_rounds": self.tool_rounds,
            "usage": self.usage.as_dict() if self.usage else None,
            "retried_ambiguous_create": self.retried_ambiguous_create,
            **({} if self.result is None else {"result": dict(self.result)}),
        }
