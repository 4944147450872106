"""Items → batch request lines: what each input line becomes in a batch input file.

The same item lines as a direct run: ``input`` / ``prompt`` lines are Responses requests
(``/v1/responses``, the body a direct run would send, without ``background``), ``messages``
lines are chat completions (``/v1/chat/completions``). A batch has no tool loop and runs no
existing job, so lines that declare function tools, track a job or make an Assistants run are
refused, each with an error naming its line; the others go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ErrorCode, ErrorInfo
from ._items import BadLine, Item, ItemDefaults, iter_items

__all__ = ["BatchLine", "batch_lines"]

RESPONSES_URL = "/v1/responses"
CHAT_URL = "/v1/chat/completions"
# Responses parameters a messages line may give that chat completions take as they are.
_CHAT_SAME = ("temperature", "top_p", "user", "service_tier", "parallel_tool_calls")


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One item as a batch request: its ``url`` and the JSONL line (``custom_id`` = id)."""

    item: Item
    url: str
    text: str  # the line of the batch input file, without its newline

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8", "surrogatepass")) + 1


def _function_tools(tools: Any) -> bool:
    return any(isinstance(t, Mapping) and t.get("type") == "function" for t in tools or ())


def _chat_body(item: Item, raw: Mapping[str, Any]) -> dict[str, Any]:
    params = dict(item.params)
    messages = list(raw["messages"])
    if params.get("instructions"):
        messages.insert(0, {"role": "system", "content": params["instructions"]})
    extra = raw.get("params") or {}
    body: dict[str, Any] = {**extra, "model": params["model"], "messages": messages}
    for name in _CHAT_SAME:
        if name in raw:
            body[name] = raw[name]
    if "max_output_tokens" in raw:
        body["max_completion_tokens"] = raw["max_output_tokens"]
    unknown = sorted(
        set(raw)
        - {"id", "messages", "model", "instructions", "metadata", "params", "max_output_tokens"}
        - set(_CHAT_SAME)
    )
    if unknown:
        raise ValueError(
            f"{', '.join(map(repr, unknown))}: not chat completions parameters (a 'messages' "
            "line goes to /v1/chat/completions in a batch; use 'params' for its own)"
        )
    return body


def _refusal(item: Item) -> str | None:
    if item.action == "track":
        return (
            "it tracks an existing job; a batch only runs new requests (run it without --via batch)"
        )
    if item.kind == "assistants":
        return "an Assistants run cannot go through the Batch API (responses and chats can)"
    if _function_tools(item.params.get("tools")):
        return (
            "it declares function tools, and a batch has no tool loop (run it without --via batch)"
        )
    if item.params.get("previous_response_id") or item.params.get("conversation"):
        return "it continues a response or conversation; batch lines stand alone"
    return None


def _line(item: Item, raw: Mapping[str, Any]) -> BatchLine:
    if "messages" in raw:
        url, body = CHAT_URL, _chat_body(item, raw)
    else:
        url = RESPONSES_URL
        body = {k: v for k, v in item.params.items() if k != "background"}
    request = {"custom_id": item.key, "method": "POST", "url": url, "body": body}
    return BatchLine(item, url, json.dumps(request, ensure_ascii=False, separators=(",", ":")))


def _raw_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    yield line_no, json.loads(raw)
                except ValueError:
                    yield line_no, None


def batch_lines(path: Path, defaults: ItemDefaults) -> Iterator[BatchLine | BadLine]:
    """Every item of the input as a batch line, or a ``BadLine`` saying why it cannot be one."""
    raws = _raw_lines(path)
    for item in iter_items(path, defaults):
        line_no, raw = next(raws)
        while line_no < item.line_no:  # same non-blank lines, in the same order
            line_no, raw = next(raws)
        if isinstance(item, BadLine):
            yield item
            continue
        why = _refusal(item)
        if why is None:
            try:
                yield _line(item, raw)
                continue
            except ValueError as exc:
                why = str(exc)
        yield BadLine(
            item.line_no, item.key, ErrorInfo(ErrorCode.BAD_INPUT, f"line {item.line_no}: {why}")
        )
