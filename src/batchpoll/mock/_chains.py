"""Function-call chains of background responses: one job, several response objects.

A background response that declares a function tool draws tool rounds like a run. The
chain is ONE :class:`JobRecord` (id = the root response's id, ``Timing.requeue``): response
``i`` of the chain asks the calls of round ``i + 1`` and ends ``completed`` with only
``function_call`` items; the client answers them with a NEW response
(``previous_response_id`` = the one that asked, ``function_call_output`` input items), which
is queued again and runs its segment of the work. After R rounds the last response ends with
the drawn outcome and the message ``expected_reply(root_prompt, outputs_per_round)``.

Each response's status is read off the chain's snapshot: earlier responses are completed
(with their calls), the latest one is what the chain is doing now (``requires_action`` is
shown as ``completed`` with the round's calls).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._apierror import ApiError, bad_request
from ._ids import make_id
from ._reply import tool_arguments
from ._sim import JobRecord, Snapshot, snapshot

__all__ = [
    "Chain",
    "ResponseView",
    "answered_outputs",
    "function_call_items",
    "previous_not_found",
    "stray_outputs",
    "view_of",
]


@dataclass(slots=True)
class Chain:
    job: JobRecord  # submissions[k - 1]: when round k was answered; tool_outputs: per round
    function: str | None  # the function its rounds call (None: it never asks one)
    ids: str  # the id namespace (_ids)
    response_ids: list[str] = field(default_factory=list)  # root first

    @property
    def root_id(self) -> str:
        return self.job.id

    def call_ids(self, round_number: int) -> list[str]:
        calls = self.job.draws.calls_in_round(round_number)
        return [
            make_id("call", self.ids, self.root_id, round_number, part)
            for part in range(1, calls + 1)
        ]


@dataclass(frozen=True, slots=True)
class ResponseView:
    """One response of a chain at ``now``."""

    status: str
    terminal_at: float | None
    asked_round: int | None  # completed with this round's function calls
    latest: bool
    snap: Snapshot


def view_of(chain: Chain, index: int, now: float) -> ResponseView:
    snap = snapshot(chain.job, now)
    answered = len(chain.job.submissions)
    if index < answered:  # it asked round index + 1, which was answered since
        return ResponseView("completed", snap.asks[index], index + 1, False, snap)
    if snap.status == "requires_action":
        return ResponseView("completed", snap.asked_at, snap.pending_round, True, snap)
    return ResponseView(snap.status, snap.terminal_at, None, True, snap)


def function_call_items(chain: Chain, round_number: int) -> list[dict[str, Any]]:
    """The ``output`` of a response that asks round ``round_number``."""
    items = []
    for part, call_id in enumerate(chain.call_ids(round_number), start=1):
        items.append(
            {
                "id": make_id("fc", chain.ids, chain.root_id, round_number, part),
                "type": "function_call",
                "call_id": call_id,
                "name": chain.function,
                "arguments": tool_arguments(chain.job.prompt, round_number, part),
                "status": "completed",
            }
        )
    return items


def answered_outputs(raw_input: Any, expected: Sequence[str]) -> list[str]:
    """The outputs for the calls ``expected``, in the calls' order, or OpenAI's 400.

    Every ``function_call_output`` must answer one of the calls asked (``No tool call found
    for function call output with call_id …``) and every call must be answered (``No tool
    output found for function call …``), both with ``param: "input"``. A call answered twice
    keeps its last output.
    """
    given: dict[str, str] = {}
    for item in raw_input if isinstance(raw_input, list) else []:
        if not isinstance(item, Mapping) or item.get("type") != "function_call_output":
            continue
        call_id = item.get("call_id")
        if not isinstance(call_id, str):
            raise bad_request("Missing required parameter: 'input[].call_id'.", "input")
        if call_id not in expected:
            raise bad_request(
                f"No tool call found for function call output with call_id {call_id}.", "input"
            )
        given[call_id] = _output_text(item.get("output"))
    for call_id in expected:
        if call_id not in given:
            raise bad_request(f"No tool output found for function call {call_id}.", "input")
    return [given[call_id] for call_id in expected]


def stray_outputs(raw_input: Any) -> None:
    """A request that continues nothing may not carry function call outputs."""
    for item in raw_input if isinstance(raw_input, list) else []:
        if isinstance(item, Mapping) and item.get("type") == "function_call_output":
            call_id = item.get("call_id")
            raise bad_request(
                f"No tool call found for function call output with call_id {call_id}.", "input"
            )


def previous_not_found(response_id: str) -> ApiError:
    return ApiError(
        400,
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):  # content parts: their text, in order
        return "".join(
            part["text"]
            for part in output
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""
