"""Responses API background jobs: ``responses.create(background=True)`` → ``retrieve``.

The result travels in the retrieved object itself (``output_text``), so a finished job needs
no extra request. A response that ends ``completed`` with ``function_call`` items asks for
tools: the scheduler sees ``requires_action``, runs every call of the round, and
``submit_tool_outputs`` creates the continuation, a new background response with
``previous_response_id`` (or in the same ``conversation``) whose input is one
``function_call_output`` per call. It re-sends ``model``, ``tools``, ``instructions`` and the
job's other params, because a continuation inherits the conversation's items, not its settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openai import AsyncOpenAI

from .._errors import ConfigurationError
from .._toolspec import Tool
from ._base import Ids, Reply, Snapshot
from ._json import read, response_snapshot

__all__ = ["ResponsesJobs"]

# Params that belong to one request of the chain, not to the job: the continuation sends its
# own input and link to the previous response.
_PER_REQUEST = ("input", "previous_response_id", "background", "stream", "conversation")


def _function_names(tools: Any) -> set[str]:
    names: set[str] = set()
    for t in tools or ():
        if isinstance(t, Mapping) and t.get("type") == "function":
            name = t.get("name") or (t.get("function") or {}).get("name")
            if isinstance(name, str):
                names.add(name)
    return names


class ResponsesJobs:
    """Kind adapter for background responses; the id is ``response_id`` (the chain's latest)."""

    name = "responses"
    chained = True

    def webhook_key(self, ids: Ids) -> str | None:
        """OpenAI sends ``response.*`` events naming the response id (docs/webhooks.md)."""
        return ids.get("response_id")

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Tool]) -> Mapping[str, Any]:
        """Background mode needs a stored response; the poller's tools are declared on every
        request of the chain (after the call's own ``tools``, without repeating a name)."""
        if params.get("store") is False:
            raise ConfigurationError(
                "background responses require store=true (OpenAI keeps them to be polled); "
                "remove store=False"
            )
        if params.get("stream"):
            raise ConfigurationError("stream=True is not for background jobs; remove it")
        if params.get("conversation") is not None and params.get("previous_response_id"):
            raise ConfigurationError("give either conversation or previous_response_id, not both")
        if not tools:
            return params
        declared = list(params.get("tools") or ())
        named = _function_names(declared)
        declared += [t.responses_schema() for t in tools if t.name not in named]
        return {**params, "tools": declared}

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        raw = await client.responses.with_raw_response.create(**{**params, "background": True})
        resp, snapshot = read(raw, response_snapshot)
        return Reply(({"response_id": resp["id"]}, snapshot), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.responses.with_raw_response.retrieve(ids["response_id"])
        return Reply(read(raw, response_snapshot)[1], raw.headers)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return False

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        raise ConfigurationError("responses carry their output; nothing to fetch")

    def continuation(
        self, ids: Ids, outputs: Sequence[tuple[str, str]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The body of the response that answers ``outputs`` (also what its tokens are
        estimated from)."""
        body = {k: v for k, v in params.items() if k not in _PER_REQUEST}
        body["input"] = [
            {"type": "function_call_output", "call_id": call_id, "output": output}
            for call_id, output in outputs
        ]
        conversation = params.get("conversation")
        if conversation is not None:
            body["conversation"] = conversation  # the conversation links the chain
        else:
            body["previous_response_id"] = ids["response_id"]
        body["background"] = True
        return body

    def metered(
        self, ids: Ids, outputs: Sequence[tuple[str, str]] | None, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        return params if outputs is None else self.continuation(ids, outputs, params)

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        body = self.continuation(ids, outputs, params)
        raw = await client.responses.with_raw_response.create(**body)
        resp, snapshot = read(raw, response_snapshot)
        return Reply(({"response_id": resp["id"]}, snapshot), raw.headers)

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.responses.with_raw_response.cancel(ids["response_id"])
        return Reply(read(raw, response_snapshot)[1], raw.headers)
