"""Responses with tools: one job is a chain of background responses, against the in-process
mock, in virtual time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH, virtual_mock

from batchpoll import ConfigurationError, LoopClock, Poller, Status, ToolSettings
from batchpoll.kinds import Ids, ResponsesJobs
from batchpoll.mock import expected_reply

pytestmark = pytest.mark.looptime


def lookup(query: str, round: int) -> str:
    """Look the query up."""
    return f"result {round}: {query}"


def mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    config.setdefault("fail_rate", 0.0)
    return virtual_mock(**config)


def poller(client: AsyncOpenAI, **kw: Any) -> Poller:
    kw.setdefault("rpm", 1200)
    kw.setdefault("tools", [lookup])
    return Poller(client, clock=LoopClock(epoch=EPOCH), seed=1, **kw)


def expected(prompt: str, rounds: int, parallel: frozenset[int] = frozenset()) -> str:
    outputs = []
    for k in range(1, rounds + 1):
        out = lookup(prompt, k)
        if k in parallel:
            out += "; " + lookup(f"{prompt} (part 2)", k)
        outputs.append(out)
    return expected_reply(prompt, outputs)


async def test_chains_end_in_the_right_reply_with_every_response_and_usage() -> None:
    app, client = mock(tool_rate=0.6, tool_repeat_rate=0.5, parallel_calls_rate=0.3, seed=4)
    prompts = [f"question {i}" for i in range(40)]
    async with poller(client) as p:
        jobs = [await p.create_response(model="gpt-test", input=q, key=q) for q in prompts]
        outcomes = {o.key: o async for o in p.as_completed(jobs)}
    stats = app.state.mock.stats()
    assert stats["rate_limited"] == 0
    assert stats["continuations_rejected"] == 0
    rounds_seen = set()
    for prompt in prompts:
        o = outcomes[prompt]
        assert o.status is Status.COMPLETED, o
        rounds_seen.add(o.tool_rounds)
        assert len(o.response_ids) == o.tool_rounds + 1
        assert len(set(o.response_ids)) == len(o.response_ids)
        assert o.ids == {"response_id": o.response_ids[-1]}
        assert o.usage is not None
        assert o.usage.total_tokens == o.usage.input_tokens + o.usage.output_tokens > 0
        # Which rounds had two calls is the mock's draw: the text must be one of the answers.
        answers = {
            expected(
                prompt, o.tool_rounds, frozenset(k for k in range(1, 4) if mask >> (k - 1) & 1)
            )
            for mask in range(8)
        }
        assert o.output_text in answers, o
    assert {0, 1, 2} <= rounds_seen
    assert stats["function_calls_asked"] == stats["function_call_outputs_received"]
    assert sum(o.tool_rounds for o in outcomes.values()) == stats["continuations"]
    # create + at least one check per response of the chain; every request charged to a job
    assert sum(o.requests for o in outcomes.values()) == stats["requests_total"]


async def test_every_call_of_a_round_is_answered_in_one_continuation() -> None:
    app, client = mock(tool_rate=1.0, parallel_calls_rate=1.0)
    seen: list[str] = []

    async def slow_lookup(query: str, round: int) -> str:
        seen.append(query)
        await asyncio.sleep(3)  # the two calls overlap: the round takes 3 s, not 6
        return lookup(query, round)

    loop = asyncio.get_running_loop()
    async with poller(client, tools={"lookup": slow_lookup}) as p:
        job = await p.create_response(model="gpt-test", input="q")
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.output_text == expected("q", 1, frozenset({1}))
    assert sorted(seen) == ["q", "q (part 2)"]
    assert outcome.tool_rounds == 1
    assert app.state.mock.stats()["continuations"] == 1
    assert loop.time() < 30


async def test_the_tool_schema_and_the_items_params_are_sent_on_every_request() -> None:
    _, client = mock(tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=2)
    async with poller(client) as p:
        job = await p.create_response(
            model="gpt-test", input="q", instructions="be brief", max_output_tokens=99
        )
        outcome = await job
    assert outcome.tool_rounds == 2
    for response_id in outcome.response_ids:
        stored = await client.responses.retrieve(response_id)
        assert stored.model == "gpt-test"
        assert stored.instructions == "be brief"
        assert stored.max_output_tokens == 99
        assert [t.name for t in stored.tools] == ["lookup"]  # type: ignore[union-attr]
        tool = stored.tools[0]
        assert tool.parameters["required"] == ["query", "round"]  # type: ignore[union-attr]
    first = await client.responses.retrieve(outcome.response_ids[1])
    second = await client.responses.retrieve(outcome.response_ids[2])
    assert first.previous_response_id == outcome.response_ids[0]
    assert second.previous_response_id == outcome.response_ids[1]


async def test_a_tracked_response_continues_with_its_model() -> None:
    _, client = mock(tool_rate=1.0, parallel_calls_rate=0.0)
    declared = [{"type": "function", "name": "lookup", "parameters": {}}]
    resp = await client.responses.create(
        model="gpt-other",
        input="old",
        background=True,
        tools=declared,  # type: ignore[list-item]
    )
    async with poller(client) as p:
        outcome = await p.track_response(resp.id, key="t")
    assert outcome.status is Status.COMPLETED
    assert outcome.output_text == expected("old", 1)
    assert outcome.response_ids[0] == resp.id
    last = await client.responses.retrieve(outcome.response_ids[-1])
    assert last.model == "gpt-other"


async def test_failures_are_one_line_outcomes_and_the_others_finish() -> None:
    _, client = mock(tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=3)

    def broken(query: str, round: int) -> str:
        raise RuntimeError("the lookup service is down")

    async with poller(client, tool_settings=ToolSettings(max_rounds=2)) as p:
        looping = await p.create_response(model="gpt-test", input="a")
        outcomes = [await looping]
    async with poller(client, tools={}) as p:
        other = [{"type": "function", "name": "other", "parameters": {}}]
        unknown = await p.create_response(model="gpt-test", input="b", tools=other)
        outcomes.append(await unknown)
    assert outcomes[0].status is Status.ERROR
    assert outcomes[0].error is not None
    assert outcomes[0].error.type == "max_rounds"
    assert "max_rounds is 2" in outcomes[0].error.message
    assert outcomes[0].tool_rounds == 2
    # The model calls a function that the request declared but the poller has no handler for.
    assert outcomes[1].status is Status.ERROR
    assert outcomes[1].error is not None
    assert outcomes[1].error.type == "unknown_tool"

    _, client = mock(tool_rate=1.0, parallel_calls_rate=0.0)
    async with poller(client, tools={"lookup": broken}) as p:
        outcome = await (await p.create_response(model="gpt-test", input="c"))
    # A handler that raises: its error text is the output, and the chain goes on.
    assert outcome.status is Status.COMPLETED
    error_output = json.dumps(
        {"error": "tool 'lookup' failed: RuntimeError: the lookup service is down"}
    )
    assert outcome.output_text == expected_reply("c", [error_output])


class _LostLink(ResponsesJobs):
    """Continues the wrong response: the server answers 400 previous_response_not_found."""

    def continuation(
        self, ids: Ids, outputs: Sequence[tuple[str, str]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {**super().continuation(ids, outputs, params), "previous_response_id": "resp_gone"}


async def test_a_refused_continuation_ends_only_that_job() -> None:
    app, client = mock(tool_rate=1.0)
    async with poller(client) as p:
        doomed = await p.create(_LostLink(), {"model": "gpt-test", "input": "x"}, key="doomed")
        fine = await p.create_response(model="gpt-test", input="y", key="fine")
        outcomes = [await doomed, await fine]
    assert outcomes[0].status is Status.ERROR
    assert outcomes[0].error is not None
    assert outcomes[0].error.type == "http_400"
    assert outcomes[0].error.message == (
        "the continuation was refused: Previous response with id 'resp_gone' not found."
    )
    # The create, its checks, the refused continuation: not sent again.
    assert outcomes[0].requests == outcomes[0].checks + 2
    assert outcomes[1].status is Status.COMPLETED
    assert app.state.mock.stats()["continuations_rejected"] == 1


async def test_store_false_is_refused_before_anything_is_sent() -> None:
    app, client = mock()
    async with poller(client) as p:
        with pytest.raises(ConfigurationError, match="store=true"):
            await p.create_response(model="gpt-test", input="x", store=False)
    assert app.state.mock.stats()["requests_total"] == 0
