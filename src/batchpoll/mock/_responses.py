"""The Responses API: ``responses.create`` (foreground or ``background=True``), retrieve, cancel.

A background response is a :class:`JobRecord` timeline without tool rounds or expiry:
queued → in_progress → completed | failed | incomplete; a cancel makes it ``cancelled`` at once
(Responses have no ``cancelling`` state). A foreground response is answered completed at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._apierror import bad_request, not_found
from ._config import MockConfig
from ._ids import make_id
from ._reply import estimate_tokens, expected_reply, response_input_prompt
from ._requests import check_metadata, optional_str, reject_stream
from ._sim import Draws, JobRecord, Snapshot, Timing, draw, observe, snapshot

__all__ = ["ResponsesStore"]

FAILED_MESSAGE = "Sorry, something went wrong."

_ECHO_DEFAULTS: dict[str, Any] = {
    "max_output_tokens": None,
    "previous_response_id": None,
    "temperature": 1.0,
    "top_p": 1.0,
    "tool_choice": "auto",
    "tools": [],
    "parallel_tool_calls": True,
    "text": {"format": {"type": "text"}},
    "truncation": "disabled",
    "reasoning": {"effort": None, "summary": None},
    "user": None,
}


@dataclass(slots=True)
class ResponseRecord:
    job: JobRecord
    model: str
    instructions: str | None
    background: bool
    seed: int
    echo: dict[str, Any]


class ResponsesStore:
    def __init__(self) -> None:
        self.responses: dict[str, ResponseRecord] = {}

    def create(
        self, config: MockConfig, body: Mapping[str, Any], now: float, seq: int
    ) -> tuple[Any, JobRecord]:
        reject_stream(body)
        model = body.get("model")
        if not isinstance(model, str):
            raise bad_request("Missing required parameter: 'model'.", "model")
        raw_input = body.get("input")
        if raw_input is not None and not isinstance(raw_input, str | list):
            raise bad_request("Invalid 'input': expected a string or an array.", "input")
        background = bool(body.get("background"))
        metadata = check_metadata(body.get("metadata"))
        if background:
            draws = draw(config, "response", seq)
            timing = Timing(now, config.queue_delay_s, config.action_expiry_s, None, 0.0)
        else:
            # Answered in the same request: nothing to wait for, nothing that can fail later.
            draws = Draws(work_s=0.0, outcome="completed", tool_rounds=0)
            timing = Timing(now, 0.0, config.action_expiry_s, None, 0.0)
        job = JobRecord(
            id=make_id("resp", config.seed, seq),
            kind="response",
            seq=seq,
            draws=draws,
            timing=timing,
            prompt=response_input_prompt(raw_input),
            metadata=metadata,
            labels=metadata,
            polled=background,
        )
        record = ResponseRecord(
            job=job,
            model=model,
            instructions=optional_str(body, "instructions"),
            background=background,
            seed=config.seed,
            echo={k: body[k] if body.get(k) is not None else v for k, v in _ECHO_DEFAULTS.items()},
        )
        self.responses[job.id] = record
        snap = snapshot(job, now)
        observe(job, snap, now, check=False)
        return _response_json(record, snap), job

    def _get(self, response_id: str) -> ResponseRecord:
        record = self.responses.get(response_id)
        if record is None:
            raise not_found(f"Response with id '{response_id}' not found.")
        return record

    def retrieve(self, response_id: str, now: float) -> Any:
        record = self._get(response_id)
        snap = snapshot(record.job, now)
        observe(record.job, snap, now, check=True)
        return _response_json(record, snap)

    def cancel(self, response_id: str, now: float) -> Any:
        record = self._get(response_id)
        if not record.background:
            raise bad_request("Only responses created with background=true can be cancelled.")
        snap = snapshot(record.job, now)
        if snap.terminal:
            raise bad_request(f"Cannot cancel a response with status '{snap.status}'.")
        record.job.cancel_at = now
        snap = snapshot(record.job, now)
        observe(record.job, snap, now, check=False)
        return _response_json(record, snap)


def _response_json(record: ResponseRecord, snap: Snapshot) -> dict[str, Any]:
    job = record.job
    status = snap.status
    reply = expected_reply(job.prompt)
    output: list[dict[str, Any]] = []
    if status in ("completed", "incomplete"):
        text = reply if status == "completed" else reply[: len(reply) // 2]
        output.append(
            {
                "id": make_id("msg", record.seed, "reply", job.id),
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        )
    usage = None
    if snap.terminal:
        input_tokens = estimate_tokens(job.prompt)
        output_tokens = estimate_tokens(output[0]["content"][0]["text"]) if output else 0
        usage = {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        }
    completed_at = snap.terminal_at if status == "completed" else None
    return {
        "id": job.id,
        "object": "response",
        "created_at": math.floor(job.timing.created_at),
        "status": status,
        "background": record.background,
        "completed_at": None if completed_at is None else math.floor(completed_at),
        "error": (
            {"code": "server_error", "message": FAILED_MESSAGE} if status == "failed" else None
        ),
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": record.instructions,
        "model": record.model,
        "output": output,
        "usage": usage,
        "metadata": job.metadata,
        "store": True,
        **record.echo,
    }
