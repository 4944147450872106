"""JSON shapes of Assistants objects (runs, threads, messages), as the SDK's types expect them.

Kept apart from the store so that the wire format is reviewable in one place. Timestamps are
integer Unix seconds (floored), as the real API sends them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ._ids import make_id
from ._reply import estimate_tokens, expected_reply, tool_arguments
from ._sim import JobRecord, Snapshot

__all__ = [
    "MessageRecord",
    "RunRecord",
    "ThreadRecord",
    "content_blocks",
    "message_json",
    "partial_reply",
    "run_json",
    "run_reply",
    "thread_json",
    "tool_call_id",
]

FAILED_MESSAGE = "Sorry, something went wrong."


@dataclass(slots=True)
class MessageRecord:
    id: str
    thread_id: str
    created_at: float
    order: int  # tie-break for equal timestamps: creation order
    role: str
    content: list[dict[str, Any]]
    run_id: str | None = None
    assistant_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[Any] = field(default_factory=list)
    status: str = "completed"
    completed_at: float | None = None
    incomplete_at: float | None = None
    incomplete_reason: str | None = None


@dataclass(slots=True)
class ThreadRecord:
    id: str
    created_at: float
    metadata: dict[str, str]
    tool_resources: Any = None
    messages: list[MessageRecord] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    settled_runs: set[str] = field(default_factory=set)  # runs whose reply is materialized


@dataclass(slots=True)
class RunRecord:
    job: JobRecord
    thread_id: str
    assistant_id: str
    model: str
    instructions: str
    tools: list[Any]
    tool_name: str
    ids: str  # the id namespace (_ids)
    echo: dict[str, Any]  # request settings echoed back verbatim (temperature, tool_choice, ...)


def _ts(t: float | None) -> int | None:
    return None if t is None else math.floor(t)


def content_blocks(content: Any) -> list[dict[str, Any]]:
    """Request content (string or parts) → the response's content blocks."""
    if isinstance(content, str):
        return [{"type": "text", "text": {"value": content, "annotations": []}}]
    blocks: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": {"value": part["text"], "annotations": []}})
        else:  # image_file / image_url parts have the same shape in and out
            blocks.append(dict(part))
    return blocks


def thread_json(thread: ThreadRecord) -> dict[str, Any]:
    return {
        "id": thread.id,
        "object": "thread",
        "created_at": _ts(thread.created_at),
        "metadata": thread.metadata,
        "tool_resources": thread.tool_resources,
    }


def message_json(message: MessageRecord) -> dict[str, Any]:
    reason = message.incomplete_reason
    return {
        "id": message.id,
        "object": "thread.message",
        "created_at": _ts(message.created_at),
        "thread_id": message.thread_id,
        "role": message.role,
        "content": message.content,
        "assistant_id": message.assistant_id,
        "run_id": message.run_id,
        "attachments": message.attachments,
        "metadata": message.metadata,
        "status": message.status,
        "completed_at": _ts(message.completed_at),
        "incomplete_at": _ts(message.incomplete_at),
        "incomplete_details": None if reason is None else {"reason": reason},
    }


def run_reply(run: RunRecord) -> str:
    return expected_reply(run.job.prompt, run.job.tool_outputs)


def partial_reply(reply: str) -> str:
    """What an incomplete job managed to write: the first half of its reply."""
    return reply[: len(reply) // 2]


def tool_call_id(run: RunRecord, round_number: int) -> str:
    return make_id("call", run.ids, run.job.id, round_number)


def run_json(run: RunRecord, snap: Snapshot) -> dict[str, Any]:
    job = run.job
    status = snap.status
    required_action = None
    if snap.pending_round is not None:
        call = {
            "id": tool_call_id(run, snap.pending_round),
            "type": "function",
            "function": {
                "name": run.tool_name,
                "arguments": tool_arguments(job.prompt, snap.pending_round),
            },
        }
        required_action = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": [call]},
        }
    usage = None
    if snap.terminal:
        prompt_tokens = estimate_tokens(job.prompt) + estimate_tokens(run.instructions)
        completion_tokens = 0
        if status == "completed":
            completion_tokens = estimate_tokens(run_reply(run))
        elif status == "incomplete":
            completion_tokens = estimate_tokens(partial_reply(run_reply(run)))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    ended = snap.terminal_at
    return {
        "id": job.id,
        "object": "thread.run",
        "created_at": _ts(job.timing.created_at),
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "status": status,
        "started_at": _ts(snap.started_at),
        "expires_at": _ts(snap.expires_at),
        "cancelled_at": _ts(ended) if status == "cancelled" else None,
        "failed_at": _ts(ended) if status == "failed" else None,
        "completed_at": _ts(ended) if status == "completed" else None,
        "required_action": required_action,
        "last_error": (
            {"code": "server_error", "message": FAILED_MESSAGE} if status == "failed" else None
        ),
        "incomplete_details": (
            {"reason": "max_completion_tokens"} if status == "incomplete" else None
        ),
        "model": run.model,
        "instructions": run.instructions,
        "tools": run.tools,
        "metadata": job.metadata,
        "usage": usage,
        **run.echo,
    }
