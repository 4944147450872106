"""The Responses API: ``responses.create`` (foreground or ``background=True``), retrieve, cancel.

A background response is a :class:`JobRecord` timeline without expiry: queued → in_progress →
completed | failed | incomplete; a cancel makes it ``cancelled`` at once (Responses have no
``cancelling`` state). With a function tool declared it may instead end ``completed`` with
``function_call`` items, and the chain goes on through continuations (see ``_chains``).
A foreground response is answered completed at once and never calls a function.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._apierror import ApiError, bad_request, not_found
from ._chains import (
    Chain,
    ResponseView,
    answered_outputs,
    function_call_items,
    previous_not_found,
    stray_outputs,
    view_of,
)
from ._config import MockConfig
from ._ids import id_namespace, make_id
from ._reply import called_function, estimate_tokens, expected_reply, response_input_prompt
from ._requests import check_metadata, optional_str, reject_stream, require_list
from ._sim import Draws, JobRecord, Timing, draw, observe, snapshot
from ._tokens import estimate_input_tokens

__all__ = ["ResponseRecord", "ResponsesStore"]

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
    id: str
    chain: Chain
    index: int  # position in the chain: 0 = the root
    created_at: float
    model: str
    instructions: str | None
    background: bool
    metadata: dict[str, str]
    input_tokens: int
    echo: dict[str, Any]

    @property
    def job(self) -> JobRecord:
        """The chain's job (shared by every response of the chain)."""
        return self.chain.job


class ResponsesStore:
    def __init__(self, salt: str = "") -> None:
        self._salt = salt  # see _ids: unique ids across instances
        self.responses: dict[str, ResponseRecord] = {}
        self._chains: list[Chain] = []
        self.continuations = 0
        self.continuations_rejected = 0

    def chains(self) -> list[Chain]:
        """Background chains (one per root), oldest first."""
        return self._chains

    def model_of(self, response_id: str) -> str | None:
        record = self.responses.get(response_id)
        return None if record is None else record.model

    def create(
        self, config: MockConfig, body: Mapping[str, Any], now: float, seq: int
    ) -> tuple[Any, JobRecord | None, ResponseRecord]:
        """A new response: the root of a new chain (its job is returned) or a continuation."""
        try:
            return self._create(config, body, now, seq)
        except ApiError:
            if body.get("previous_response_id") is not None:
                self.continuations_rejected += 1
            raise

    def _create(
        self, config: MockConfig, body: Mapping[str, Any], now: float, seq: int
    ) -> tuple[Any, JobRecord | None, ResponseRecord]:
        reject_stream(body)
        model = body.get("model")
        if not isinstance(model, str):
            raise bad_request("Missing required parameter: 'model'.", "model")
        raw_input = body.get("input")
        if raw_input is not None and not isinstance(raw_input, str | list):
            raise bad_request("Invalid 'input': expected a string or an array.", "input")
        background = bool(body.get("background"))
        if background and body.get("store") is False:
            # OpenAI's exact wording for this is not on record; the rule is documented.
            raise bad_request(
                "Background mode requires 'store' to be true: a background response is stored "
                "so that it can be retrieved.",
                "store",
            )
        check_metadata(body.get("metadata"))
        tools = require_list(body, "tools")
        previous_id = body.get("previous_response_id")
        if body.get("conversation") is not None:
            if previous_id is not None:
                raise bad_request(
                    "Mutually exclusive parameters: 'previous_response_id' and 'conversation'. "
                    "Ensure you are only providing one of these parameters.",
                    "conversation",
                )
            raise bad_request(
                "The batchpoll mock does not simulate conversations: chain responses with "
                "previous_response_id.",
                "conversation",
            )
        if previous_id is not None:
            if not isinstance(previous_id, str):
                raise bad_request("Invalid 'previous_response_id': expected a string.")
            previous = self.responses.get(previous_id)
            if previous is None:
                raise previous_not_found(previous_id)
            view = view_of(previous.chain, previous.index, now)
            if view.asked_round is not None:
                return self._continue(config, body, now, previous, view)
            if not view.snap.terminal:
                raise bad_request(
                    f"Previous response with id '{previous_id}' is still {view.status}: "
                    "wait until it is done.",
                    "previous_response_id",
                )
            # It asked nothing: this is a new turn, a chain of its own.
        stray_outputs(raw_input)
        function = called_function(tools, config.tool_name)
        if background:
            parallel = body.get("parallel_tool_calls") is not False
            named = body.get("model")
            draws = draw(
                config,
                "response",
                seq,
                tools=function is not None,
                parallel=parallel,
                model=named if isinstance(named, str) else None,
            )
            timing = Timing(now, config.queue_delay_s, None, None, 0.0, requeue=True)
        else:
            # Answered in the same request: nothing to wait for, nothing that can fail later.
            draws = Draws(work_s=0.0, outcome="completed", tool_rounds=0)
            timing = Timing(now, 0.0, None, None, 0.0)
        metadata = check_metadata(body.get("metadata"))
        job = JobRecord(
            id=make_id("resp", id_namespace(config.seed, self._salt), seq),
            kind="response",
            seq=seq,
            draws=draws,
            timing=timing,
            prompt=response_input_prompt(raw_input),
            metadata=metadata,
            labels=metadata,
            polled=background,
        )
        chain = Chain(
            job=job,
            function=function,
            ids=id_namespace(config.seed, self._salt),
            response_ids=[job.id],
        )
        if background:
            self._chains.append(chain)
        record = self._record(job.id, chain, 0, body, now, model)
        snap = snapshot(job, now)
        observe(job, snap, now, check=False)
        return _response_json(record, view_of(chain, 0, now)), job, record

    def _continue(
        self,
        config: MockConfig,
        body: Mapping[str, Any],
        now: float,
        previous: ResponseRecord,
        view: ResponseView,
    ) -> tuple[Any, None, ResponseRecord]:
        chain = previous.chain
        assert view.asked_round is not None
        if not view.latest:
            following = chain.response_ids[previous.index + 1]
            raise bad_request(
                f"Response '{previous.id}' was already continued by '{following}': the "
                "batchpoll mock does not fork chains.",
                "previous_response_id",
            )
        if not body.get("background"):
            raise bad_request(
                "The batchpoll mock continues background chains in the background only: "
                "send background=true.",
                "background",
            )
        outputs = answered_outputs(body.get("input"), chain.call_ids(view.asked_round))
        job = chain.job
        observe(job, view.snap, now, check=False)  # answering proves the calls were seen
        job.submissions.append(now)
        job.tool_outputs.append("; ".join(outputs))
        index = len(chain.response_ids)
        response_id = make_id("resp", chain.ids, chain.root_id, index)
        chain.response_ids.append(response_id)
        self.continuations += 1
        model = str(body["model"])
        record = self._record(response_id, chain, index, body, now, model)
        observe(job, snapshot(job, now), now, check=False)
        return _response_json(record, view_of(chain, index, now)), None, record

    def _record(
        self,
        response_id: str,
        chain: Chain,
        index: int,
        body: Mapping[str, Any],
        now: float,
        model: str,
    ) -> ResponseRecord:
        record = ResponseRecord(
            id=response_id,
            chain=chain,
            index=index,
            created_at=now,
            model=model,
            instructions=optional_str(body, "instructions"),
            background=bool(body.get("background")),
            metadata=check_metadata(body.get("metadata")),
            input_tokens=estimate_input_tokens(body),
            echo={k: body[k] if body.get(k) is not None else v for k, v in _ECHO_DEFAULTS.items()},
        )
        record.echo["tools"] = [_tool_echo(tool) for tool in record.echo["tools"]]
        self.responses[response_id] = record
        return record

    def _get(self, response_id: str) -> ResponseRecord:
        record = self.responses.get(response_id)
        if record is None:
            raise not_found(f"Response with id '{response_id}' not found.")
        return record

    def retrieve(self, response_id: str, now: float) -> Any:
        record = self._get(response_id)
        view = view_of(record.chain, record.index, now)
        job = record.chain.job
        job.checks += 1  # every retrieve in a chain checks the chain's one job
        if view.latest:  # an earlier response shows nothing new about the chain
            observe(job, view.snap, now, check=False)
        return _response_json(record, view)

    def cancel(self, response_id: str, now: float) -> Any:
        record = self._get(response_id)
        if not record.background:
            raise bad_request("Only responses created with background=true can be cancelled.")
        view = view_of(record.chain, record.index, now)
        if view.snap.terminal or view.status == "completed":
            raise bad_request(f"Cannot cancel a response with status '{view.status}'.")
        job = record.chain.job
        job.cancel_at = now
        view = view_of(record.chain, record.index, now)
        observe(job, view.snap, now, check=False)
        return _response_json(record, view)


def _tool_echo(tool: Any) -> Any:
    """A function tool as the API echoes it: ``strict`` (the Responses default: true),
    ``parameters`` and ``description`` always present."""
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        return tool
    echoed = {"description": None, "parameters": None, **tool}
    if echoed.get("strict") is None:
        echoed["strict"] = True
    return echoed


def _response_json(record: ResponseRecord, view: ResponseView) -> dict[str, Any]:
    chain = record.chain
    job = chain.job
    status = view.status
    output: list[dict[str, Any]] = []
    output_tokens = 0
    if view.asked_round is not None:
        output = function_call_items(chain, view.asked_round)
        output_tokens = sum(estimate_tokens(item["arguments"]) for item in output)
    elif status in ("completed", "incomplete"):
        reply = expected_reply(job.prompt, job.tool_outputs)
        text = reply if status == "completed" else reply[: len(reply) // 2]
        output.append(
            {
                "id": make_id("msg", chain.ids, "reply", record.id),
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [
                    {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
                ],
            }
        )
        output_tokens = estimate_tokens(text)
    usage = None
    if view.snap.terminal or view.asked_round is not None:
        usage = {
            "input_tokens": record.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": record.input_tokens + output_tokens,
        }
    completed_at = view.terminal_at if status == "completed" else None
    return {
        "id": record.id,
        "object": "response",
        "created_at": math.floor(record.created_at),
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
        "metadata": record.metadata,
        "store": True,
        **record.echo,
    }
