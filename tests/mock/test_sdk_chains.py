"""Function-call chains of background responses, driven by the official SDK (strict)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from openai.types.responses import Response

from batchpoll.mock import MockConfig, expected_reply, tool_output_for

from .conftest import EPOCH, Mock, MockFactory

pytestmark = [
    pytest.mark.looptime,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

LOOKUP: dict[str, Any] = {
    "type": "function",
    "name": "lookup",
    "description": "Look something up.",
    "parameters": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "round": {"type": "integer"}},
        "required": ["query", "round"],
    },
    "strict": False,
}
# Every job asks exactly `max_tool_rounds` rounds, works 6 s, starts after 0.5 s.
CHAINS = {
    "fail_rate": 0.0,
    "tool_rate": 1.0,
    "tool_repeat_rate": 1.0,
    "duration_median_s": 6.0,
    "duration_sigma": 0.0,
    "queue_delay_s": 0.5,
    "parallel_calls_rate": 0.0,
}


async def until_done(mock: Mock, response_id: str) -> Response:
    while True:
        response = await mock.client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress"):
            return response
        await asyncio.sleep(0.5)


def calls_of(response: Response) -> list[Any]:
    return [item for item in response.output if item.type == "function_call"]


async def continue_with(mock: Mock, response: Response, outputs: list[tuple[str, str]]) -> Any:
    return await mock.client.responses.create(
        model="gpt-4o-mini",
        background=True,
        previous_response_id=response.id,
        tools=[LOOKUP],  # type: ignore[list-item]
        input=[
            {"type": "function_call_output", "call_id": call_id, "output": output}
            for call_id, output in outputs
        ],
    )


async def run_chain(mock: Mock, prompt: str) -> tuple[list[Response], list[str]]:
    """Create, poll, answer every call with tool_output_for, until a message: every response."""
    created = await mock.client.responses.create(
        model="gpt-4o-mini",
        input=prompt,
        background=True,
        tools=[LOOKUP],  # type: ignore[list-item]
        metadata={"batchpoll_item": "item-1"},
    )
    chain: list[Response] = []
    rounds: list[str] = []
    response = await until_done(mock, created.id)
    while calls := calls_of(response):
        chain.append(response)
        outputs = [(c.call_id, tool_output_for(c.arguments)) for c in calls]
        rounds.append("; ".join(output for _, output in outputs))
        nxt = await continue_with(mock, response, outputs)
        assert nxt.status == "queued"
        response = await until_done(mock, nxt.id)
    chain.append(response)
    return chain, rounds


async def test_a_two_round_chain_ends_with_the_expected_reply(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**CHAINS, max_tool_rounds=2))
    chain, rounds = await run_chain(mock, "q?")
    assert len(chain) == 3
    first = chain[0]
    assert first.status == "completed"
    assert first.output_text == ""  # no message: only the call
    (call,) = calls_of(first)
    assert (call.name, call.status) == ("lookup", "completed")
    assert call.call_id.startswith("call_")
    assert call.id is not None
    assert call.id.startswith("fc_")
    assert json.loads(call.arguments) == {"query": "q?", "round": 1}
    assert json.loads(calls_of(chain[1])[0].arguments) == {"query": "q?", "round": 2}
    assert rounds == ["result 1: q?", "result 2: q?"]
    last = chain[-1]
    assert last.status == "completed"
    assert last.output_text == expected_reply("q?", rounds)
    assert last.previous_response_id == chain[1].id
    # Work 6 s in three equal segments, each after its own 0.5 s queue: the root ends at 2.5.
    assert first.completed_at == EPOCH + 2
    assert all(r.usage is not None and r.usage.total_tokens > 0 for r in chain)
    stats = await mock.stats()
    assert stats["function_calls_asked"] == stats["function_call_outputs_received"] == 2
    assert (stats["continuations"], stats["continuations_rejected"]) == (2, 0)
    assert (stats["chains_with_calls"], stats["chains_completed"]) == (1, 1)
    assert stats["responses_per_chain"]["max"] == 3
    # The chain is one job: one create, its checks summed, no duplicate from continuations.
    assert (stats["creates_total"], stats["jobs_by_kind"]) == (1, {"response": 1})
    assert stats["checks_per_job"]["jobs"] == 1
    assert stats["checks_per_job"]["total"] >= 3
    assert stats["duplicate_creates"]["extra_creates"] == 0
    assert stats["detection_lag_s"]["count"] == 1
    assert stats["action_detection_lag_s"]["count"] == 2
    assert stats["jobs_by_status"] == {"completed": 1}


async def test_each_response_keeps_its_own_state(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**CHAINS, max_tool_rounds=1))
    chain, _ = await run_chain(mock, "x")
    again = [await mock.client.responses.retrieve(r.id) for r in chain]
    assert [calls_of(r) != [] for r in again] == [True, False]
    assert again[1].output_text == chain[1].output_text
    totals = [r.usage.total_tokens for r in again if r.usage is not None]
    assert totals == [r.usage.total_tokens for r in chain if r.usage is not None]


async def test_two_parallel_calls_are_answered_together(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**{**CHAINS, "parallel_calls_rate": 1.0}, max_tool_rounds=1))
    created = await mock.client.responses.create(
        model="gpt-4o-mini",
        input="p",
        background=True,
        tools=[LOOKUP],  # type: ignore[list-item]
    )
    asked = await until_done(mock, created.id)
    first, second = calls_of(asked)
    assert json.loads(first.arguments) == {"query": "p", "round": 1}
    assert json.loads(second.arguments) == {"query": "p (part 2)", "round": 1}
    assert first.call_id != second.call_id
    outputs = [tool_output_for(first.arguments), tool_output_for(second.arguments)]
    assert outputs == ["result 1: p", "result 1: p (part 2)"]
    with pytest.raises(openai.BadRequestError) as info:
        await continue_with(mock, asked, [(first.call_id, outputs[0])])
    assert info.value.body == {
        "message": f"No tool output found for function call {second.call_id}.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }
    # Sent in any order, the outputs are joined in the calls' order.
    nxt = await continue_with(
        mock, asked, [(second.call_id, outputs[1]), (first.call_id, outputs[0])]
    )
    done = await until_done(mock, nxt.id)
    assert done.output_text == expected_reply("p", ["result 1: p; result 1: p (part 2)"])
    stats = await mock.stats()
    assert (stats["function_calls_asked"], stats["function_call_outputs_received"]) == (2, 2)
    assert stats["continuations_rejected"] == 1


async def test_parallel_tool_calls_false_asks_one_call_per_round(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**{**CHAINS, "parallel_calls_rate": 1.0}, max_tool_rounds=1))
    created = await mock.client.responses.create(
        model="m",
        input="p",
        background=True,
        tools=[LOOKUP],  # type: ignore[list-item]
        parallel_tool_calls=False,
    )
    assert len(calls_of(await until_done(mock, created.id))) == 1


async def test_the_called_function_is_a_declared_one(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**CHAINS, max_tool_rounds=1))
    search = {**LOOKUP, "name": "search"}
    created = await mock.client.responses.create(
        model="m",
        input="p",
        background=True,
        tools=[search, {**LOOKUP, "name": "other"}],  # type: ignore[list-item]
    )
    (call,) = calls_of(await until_done(mock, created.id))
    assert call.name == "search"  # tool_name ("lookup") is not declared: the first function
    for tools in ([], [{"type": "web_search"}]):
        bare = await mock.client.responses.create(
            model="m",
            input="p",
            background=True,
            tools=tools,  # type: ignore[arg-type]
        )
        done = await until_done(mock, bare.id)
        assert calls_of(done) == []
        assert done.output_text == expected_reply("p")
    assert (await mock.stats())["function_calls_asked"] == 1


async def test_bad_continuations_get_openais_400s(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**CHAINS, max_tool_rounds=2))
    responses = mock.client.responses
    with pytest.raises(openai.BadRequestError) as info:
        await responses.create(model="m", input="x", previous_response_id="resp_nope")
    assert info.value.body == {
        "message": "Previous response with id 'resp_nope' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }
    created = await responses.create(
        model="m",
        input="x",
        background=True,
        tools=[LOOKUP],  # type: ignore[list-item]
    )
    with pytest.raises(openai.BadRequestError, match="still queued"):
        await continue_with(mock, created, [("call_x", "y")])
    asked = await until_done(mock, created.id)
    (call,) = calls_of(asked)
    with pytest.raises(openai.BadRequestError) as info:
        await continue_with(mock, asked, [(call.call_id, "a"), ("call_other", "b")])
    assert info.value.body["message"] == (
        "No tool call found for function call output with call_id call_other."
    )
    assert info.value.param == "input"
    with pytest.raises(openai.BadRequestError, match=f"function call {call.call_id}"):
        await continue_with(mock, asked, [])
    with pytest.raises(openai.BadRequestError) as info:
        await responses.create(model="m", input="x", background=True, store=False)
    assert info.value.param == "store"
    with pytest.raises(openai.BadRequestError, match="Mutually exclusive"):
        await responses.create(
            model="m", input="x", previous_response_id=asked.id, conversation="conv_1"
        )
    nxt = await continue_with(mock, asked, [(call.call_id, "a")])
    with pytest.raises(openai.BadRequestError, match="already continued"):
        await continue_with(mock, asked, [(call.call_id, "a")])  # a fork
    assert (await responses.retrieve(nxt.id)).status == "queued"
    stats = await mock.stats()
    assert stats["continuations_rejected"] == 6
    assert stats["continuations"] == 1


async def test_a_finished_response_starts_a_new_chain(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**{**CHAINS, "tool_rate": 0.0}))
    first = await mock.client.responses.create(model="m", input="one", background=True)
    done = await until_done(mock, first.id)
    second = await mock.client.responses.create(
        model="m", input="two", background=True, previous_response_id=done.id
    )
    assert (await until_done(mock, second.id)).output_text == expected_reply("two")
    assert (await mock.stats())["creates_total"] == 2


async def test_cancel_in_a_chain(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**CHAINS, max_tool_rounds=1))
    created = await mock.client.responses.create(
        model="m",
        input="x",
        background=True,
        tools=[LOOKUP],  # type: ignore[list-item]
    )
    asked = await until_done(mock, created.id)
    with pytest.raises(openai.BadRequestError, match="status 'completed'"):
        await mock.client.responses.cancel(asked.id)
    (call,) = calls_of(asked)
    nxt = await continue_with(mock, asked, [(call.call_id, "a")])
    cancelled = await mock.client.responses.cancel(nxt.id)
    assert cancelled.status == "cancelled"
    assert (await mock.client.responses.retrieve(asked.id)).status == "completed"
    assert (await mock.stats())["jobs_by_status"] == {"cancelled": 1}


@pytest.mark.parametrize("deterministic_ids", [True, False])
async def test_same_seed_same_chains(make_mock: MockFactory, deterministic_ids: bool) -> None:
    async def chains() -> tuple[list[tuple[str, ...]], list[str]]:
        mock = make_mock(
            MockConfig(
                seed=5,
                tool_rate=0.5,
                tool_repeat_rate=0.5,
                parallel_calls_rate=0.5,
                deterministic_ids=deterministic_ids,
            )
        )
        seen, ids = [], []
        for i in range(8):
            chain, rounds = await run_chain(mock, f"p{i}")
            seen.append(tuple([*rounds, chain[-1].status or ""]))
            ids += [r.id for r in chain]
        return seen, ids

    first, first_ids = await chains()
    second, second_ids = await chains()
    assert first == second  # the same chains: rounds, calls, outputs, outcomes
    assert len({len(c) for c in first}) > 1  # some chains asked, some did not
    if deterministic_ids:
        assert first_ids == second_ids
    else:  # two instances never share an id
        assert not set(first_ids) & set(second_ids)
