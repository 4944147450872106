"""A batch's input file, validated line by line as the Batch API does before it runs.

Each line is ``{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body"}``;
custom ids are unique; at most 50,000 lines. Any violation fails the whole batch (its
``errors`` name the line), which is the API's behaviour: nothing of an invalid file runs.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BATCH_MAX_LINES", "batch_error", "validate_lines"]

BATCH_MAX_LINES = 50_000


def batch_error(
    code: str, message: str, line: int | None, param: str | None = None
) -> dict[str, Any]:
    """One entry of a batch's ``errors.data`` (OpenAI's ``BatchError``)."""
    return {"code": code, "message": message, "param": param, "line": line}


def _check(item: Any, endpoint: str, seen: set[str]) -> tuple[str, str | None] | None:
    """(code + message, param) of what is wrong with one parsed line, or None."""
    if not isinstance(item, dict):
        return "invalid_request|A line must be a JSON object.", None
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_required_parameter|Missing required parameter: 'custom_id'.", "custom_id"
    if custom_id in seen:
        return (
            f"duplicate_custom_id|The custom_id '{custom_id}' is not unique in this batch.",
            "custom_id",
        )
    if item.get("method") != "POST":
        return "invalid_method|Only POST is supported.", "method"
    if item.get("url") != endpoint:
        return (
            f"mismatched_endpoint|The url {item.get('url')!r} does not match the batch's "
            f"endpoint {endpoint!r}.",
            "url",
        )
    if not isinstance(item.get("body"), dict):
        return "invalid_request|Missing 'body' object.", "body"
    return None


def validate_lines(
    data: bytes, endpoint: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The lines as ``(custom_id, body)`` and the validation errors (empty: valid)."""
    raw_lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(raw_lines) > BATCH_MAX_LINES:
        message = f"The input file has more than {BATCH_MAX_LINES} requests."
        return [], [batch_error("too_many_requests", message, None)]
    if not raw_lines:
        return [], [batch_error("empty_file", "The input file has no requests.", None)]
    seen: set[str] = set()
    lines: list[tuple[str, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    for i, text in enumerate(raw_lines):
        try:
            item = json.loads(text)
        except ValueError:
            errors.append(batch_error("invalid_json_line", "This line is not valid JSON.", i + 1))
            continue
        problem = _check(item, endpoint, seen)
        if problem is not None:
            code_message, param = problem
            code, message = code_message.split("|", 1)
            errors.append(batch_error(code, message, i + 1, param))
            continue
        seen.add(item["custom_id"])
        lines.append((item["custom_id"], item["body"]))
    return lines, errors
