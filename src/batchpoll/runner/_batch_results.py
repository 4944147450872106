"""A batch's output and error files → one output record per item, in the usual shape.

Each line of those files is ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``. A 200 is the item's result (its text and usage, read from a Responses
or a chat-completion body); any other status is that item's ``error`` outcome with the API's
error; ``error: {"code": "batch_expired" | "batch_cancelled"}`` (or no line at all) means the
line did not run: ``None`` here, for the caller to re-submit or report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import ErrorCode, ErrorInfo, Outcome, Status, Usage
from ._batch_items import BatchLine
from ._summary import output_record

__all__ = ["NOT_RUN", "parse_file", "record_for", "unrun_record"]

#: The line errors that mean the request never ran (the batch ended first).
NOT_RUN = {"batch_expired": Status.EXPIRED, "batch_cancelled": Status.CANCELLED}


def parse_file(text: str) -> dict[str, Mapping[str, Any]]:
    """The lines of an output or error file by ``custom_id`` (unreadable lines skipped)."""
    lines: dict[str, Mapping[str, Any]] = {}
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
            lines[line["custom_id"]] = line
    return lines


def _text_and_usage(body: Mapping[str, Any]) -> tuple[str | None, Usage | None, dict[str, str]]:
    usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else None
    if body.get("object") == "chat.completion":
        choices = body.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content")
        u = None
        if usage is not None:
            u = Usage(
                int(usage.get("prompt_tokens", 0)),
                int(usage.get("completion_tokens", 0)),
                int(usage.get("total_tokens", 0)),
            )
        return text, u, {"chat_completion_id": str(body.get("id"))}
    texts = [
        part.get("text", "")
        for item in body.get("output") or ()
        if isinstance(item, Mapping) and item.get("type") == "message"
        for part in item.get("content") or ()
        if isinstance(part, Mapping) and part.get("type") == "output_text"
    ]
    u = None
    if usage is not None:
        u = Usage(
            int(usage.get("input_tokens", 0)),
            int(usage.get("output_tokens", 0)),
            int(usage.get("total_tokens", 0)),
        )
    return "".join(texts) if texts else None, u, {"response_id": str(body.get("id"))}


def _kind(line: BatchLine) -> str:
    return "chat_completions" if line.url.endswith("/chat/completions") else "responses"


def record_for(
    line: BatchLine, result: Mapping[str, Any] | None, batch_id: str
) -> dict[str, Any] | None:
    """The item's output record from its result line; None when the line did not run."""
    if result is None:
        return None
    item = line.item
    ids = {"batch_id": batch_id}
    error = result.get("error")
    if isinstance(error, Mapping) and error.get("code") in NOT_RUN:
        return None
    response = result.get("response")
    if not isinstance(response, Mapping):
        message = str(error.get("message")) if isinstance(error, Mapping) else "no response"
        code = str(error.get("code")) if isinstance(error, Mapping) else "batch_error"
        outcome = Outcome(
            item.key, _kind(line), Status.ERROR, ids=ids, error=ErrorInfo(code, message)
        )
        return output_record(outcome, item.line_no)
    raw_body = response.get("body")
    body: Mapping[str, Any] = raw_body if isinstance(raw_body, Mapping) else {}
    status_code = response.get("status_code")
    if status_code != 200:
        raw_api = body.get("error")
        api: Mapping[str, Any] = raw_api if isinstance(raw_api, Mapping) else {}
        err = ErrorInfo(
            str(api.get("code") or api.get("type") or f"http_{status_code}"),  # may be absent
            f"HTTP {status_code}: {api.get('message') or 'the request failed'}",
        )
        outcome = Outcome(item.key, _kind(line), Status.ERROR, ids=ids, error=err)
        return output_record(outcome, item.line_no)
    text, usage, more = _text_and_usage(body)
    outcome = Outcome(
        item.key, _kind(line), Status.COMPLETED, output_text=text, ids={**ids, **more}, usage=usage
    )
    return output_record(outcome, item.line_no)


def unrun_record(
    line: BatchLine, batch_id: str, status: str, error: ErrorInfo | None
) -> dict[str, Any]:
    """The record of a line its batch never ran (expired or cancelled and not re-submitted,
    or a batch that failed as a whole)."""
    final = {"expired": Status.EXPIRED, "cancelled": Status.CANCELLED}.get(status, Status.ERROR)
    if error is None and status == "completed":  # the server left this line out
        error = ErrorInfo(
            ErrorCode.BATCH_MISSING, "the batch completed without a result for this line"
        )
    elif error is None:
        error = ErrorInfo(f"batch_{status}", f"the batch ended {status} before this line ran")
    outcome = Outcome(line.item.key, _kind(line), final, ids={"batch_id": batch_id}, error=error)
    return output_record(outcome, line.item.line_no)
