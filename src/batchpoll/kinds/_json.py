"""Snapshots read from the reply's JSON, field by field, for the kinds checked most often.

The SDK's ``raw.parse()`` builds its full pydantic model of a run or a response (every nested
item, every optional field) and the kind then read five fields of it: that was about 12 % of
the client's CPU per check. Reading the same documented fields from the decoded JSON gives the
same ``Snapshot``; a body that is not the object the API documents is a malformed response,
as the SDK would report it (``APIResponseValidationError``: transient, checked again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import openai

from .._failures import ErrorCode
from .._outcome import ErrorInfo, Usage
from ._base import Snapshot, ToolCall

__all__ = ["read", "response_snapshot", "run_snapshot"]


class _Raw(Protocol):
    @property
    def http_response(self) -> Any: ...


def read(
    raw: _Raw, build: Callable[[Mapping[str, Any]], Snapshot]
) -> tuple[Mapping[str, Any], Snapshot]:
    """The reply's JSON object and its snapshot (``build`` reads the fields)."""
    response = raw.http_response
    body = response.json()
    try:
        if not isinstance(body, dict):
            raise TypeError("not a JSON object")
        return body, build(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise openai.APIResponseValidationError(
            response, body, message=f"the reply is not the object the API documents: {exc}"
        ) from None


def _time(value: Any) -> float | None:
    return float(value) if value else None


def run_snapshot(run: Mapping[str, Any]) -> Snapshot:
    """An Assistants run object."""
    status = run["status"]
    calls: tuple[ToolCall, ...] = ()
    action = run.get("required_action")
    if status == "requires_action" and action:
        calls = tuple(
            ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in action["submit_tool_outputs"]["tool_calls"]
        )
    error = None
    last_error, incomplete = run.get("last_error"), run.get("incomplete_details")
    if last_error:
        error = ErrorInfo(last_error["code"], last_error["message"])
    elif status == "incomplete" and incomplete:
        error = ErrorInfo(ErrorCode.INCOMPLETE, str(incomplete.get("reason")))
    elif status == "expired":
        error = ErrorInfo(ErrorCode.EXPIRED, "the run expired before it finished")
    u = run.get("usage")
    usage = None if not u else Usage(u["prompt_tokens"], u["completion_tokens"], u["total_tokens"])
    finished = run.get("completed_at") or run.get("failed_at") or run.get("cancelled_at")
    return Snapshot(
        status=status,
        tool_calls=calls,
        error=error,
        expires_at=_time(run.get("expires_at")),
        started_at=_time(run.get("started_at")),
        finished_at=_time(finished),
        usage=usage,
        model=run.get("model"),
    )


def response_snapshot(resp: Mapping[str, Any]) -> Snapshot:
    """A Responses API response object (``output_text`` as the SDK's property joins it)."""
    status = resp.get("status") or "queued"
    error = None
    failure, incomplete = resp.get("error"), resp.get("incomplete_details")
    if failure:
        error = ErrorInfo(str(failure.get("code")), failure.get("message") or "")
    elif status == "incomplete" and incomplete:
        error = ErrorInfo(ErrorCode.INCOMPLETE, str(incomplete.get("reason")))
    u = resp.get("usage")
    usage = None if not u else Usage(u["input_tokens"], u["output_tokens"], u["total_tokens"])
    calls: tuple[ToolCall, ...] = ()
    text = None
    if status == "completed":
        output = resp.get("output") or ()
        calls = tuple(
            ToolCall(item["call_id"], item["name"], item["arguments"])
            for item in output
            if item.get("type") == "function_call"
        )
        if not calls:
            text = "".join(
                part["text"]
                for item in output
                if item.get("type") == "message"
                for part in item.get("content") or ()
                if part.get("type") == "output_text"
            )
    completed_at = resp.get("completed_at")
    return Snapshot(
        status="requires_action" if calls else status,
        tool_calls=calls,
        error=error,
        output_text=text,
        finished_at=float(completed_at) if completed_at is not None else None,
        usage=usage,
        model=resp.get("model"),
    )
