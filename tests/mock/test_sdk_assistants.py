"""The official SDK (strict validation) against the Assistants endpoints, on virtual time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from batchpoll.mock import MockConfig, expected_reply, tool_output_for

from .conftest import EPOCH, MockFactory

pytestmark = [
    pytest.mark.looptime,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

QUIET = {"fail_rate": 0.0, "tool_rate": 0.0}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


async def test_every_endpoint_parses_strictly(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET))
    beta = mock.client.beta
    assistant = await beta.assistants.create(model="gpt-4o", instructions="Be brief.")
    assert (await beta.assistants.retrieve(assistant.id)).instructions == "Be brief."
    thread = await beta.threads.create(messages=[user("one")], metadata={"k": "v"})
    assert (await beta.threads.retrieve(thread.id)).metadata == {"k": "v"}
    message = await beta.threads.messages.create(thread.id, role="user", content="two")
    fetched = await beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    assert fetched.content[0].type == "text"
    run = await beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, additional_messages=[user("three")]
    )
    assert (run.status, run.model, run.instructions) == ("queued", "gpt-4o", "Be brief.")
    assert (await beta.threads.runs.list(thread.id)).data[0].id == run.id
    cancelled = await beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelling"
    other = await beta.threads.create_and_run(
        assistant_id="asst_anything", thread={"messages": [user("x")]}
    )
    assert other.status == "queued"
    assert other.expires_at == int(EPOCH + 600)


async def test_create_and_run_poll_completes_with_the_expected_reply(
    make_mock: MockFactory,
) -> None:
    mock = make_mock(MockConfig(**QUIET, seed=3))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    run = await mock.client.beta.threads.create_and_run_poll(
        assistant_id="asst_1", thread={"messages": [user("hello")]}
    )
    assert run.status == "completed"
    assert run.completed_at is not None
    assert run.started_at is not None
    assert run.usage is not None
    assert run.usage.total_tokens > 0
    assert loop.time() - t0 > 1  # it really waited, in virtual time
    messages = await mock.client.beta.threads.messages.list(run.thread_id, run_id=run.id)
    reply = messages.data[0]
    assert (reply.role, reply.run_id, reply.assistant_id) == ("assistant", run.id, "asst_1")
    assert reply.content[0].type == "text"
    assert reply.content[0].text.value == expected_reply("hello")


async def test_tool_round_trip_with_the_sdk_helpers(make_mock: MockFactory) -> None:
    config = MockConfig(fail_rate=0.0, tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=2)
    mock = make_mock(config)
    beta = mock.client.beta
    run = await beta.threads.create_and_run_poll(
        assistant_id="a", thread={"messages": [user("q?")]}
    )
    outputs = []
    rounds = []
    while run.status == "requires_action":
        assert run.required_action is not None
        (call,) = run.required_action.submit_tool_outputs.tool_calls
        assert call.function.name == "lookup"
        rounds.append(json.loads(call.function.arguments))
        output = tool_output_for(call.function.arguments)
        outputs.append(output)
        run = await beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=run.thread_id,
            tool_outputs=[{"tool_call_id": call.id, "output": output}],
        )
    assert run.status == "completed"
    assert rounds == [{"query": "q?", "round": 1}, {"query": "q?", "round": 2}]
    messages = await beta.threads.messages.list(run.thread_id, order="desc", limit=1)
    assert messages.data[0].content[0].text.value == expected_reply("q?", outputs)  # type: ignore[union-attr]
    stats = await mock.stats()
    assert (stats["tool_calls_asked"], stats["tool_outputs_submitted"]) == (2, 2)


async def test_unanswered_action_expires(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fail_rate=0.0, tool_rate=1.0, action_expiry_s=20.0))
    beta = mock.client.beta
    run = await beta.threads.create_and_run_poll(assistant_id="a", thread={"messages": [user("x")]})
    assert run.status == "requires_action"
    assert run.expires_at is not None
    await asyncio.sleep(21)
    expired = await beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert expired.status == "expired"
    assert expired.required_action is None
    with pytest.raises(openai.BadRequestError, match="do not accept tool outputs"):
        await beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": "x", "output": "y"}]
        )
    assert (await mock.stats())["actions_expired"] == 1


async def test_run_expiry(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET, duration_median_s=3600, run_expiry_s=30))
    beta = mock.client.beta
    run = await beta.threads.create_and_run(assistant_id="a", thread={"messages": [user("x")]})
    assert run.expires_at == int(EPOCH + 30)
    await asyncio.sleep(31)
    later = await beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert later.status == "expired"
    assert (await mock.stats())["runs_expired"] == 1


async def test_cancel(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET, duration_median_s=100, cancel_delay_s=0.5))
    runs = mock.client.beta.threads.runs
    run = await mock.client.beta.threads.create_and_run(
        assistant_id="a", thread={"messages": [user("x")]}
    )
    await asyncio.sleep(2)
    assert (await runs.cancel(run.id, thread_id=run.thread_id)).status == "cancelling"
    with pytest.raises(openai.BadRequestError):
        await runs.cancel(run.id, thread_id=run.thread_id)
    await asyncio.sleep(0.5)
    cancelled = await runs.retrieve(run.id, thread_id=run.thread_id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at == int(EPOCH + 2.5)
    assert cancelled.started_at == int(EPOCH + 0.5)


async def test_failed_and_incomplete_runs(make_mock: MockFactory) -> None:
    failing = make_mock(MockConfig(fail_rate=1.0, tool_rate=0.0))
    run = await failing.client.beta.threads.create_and_run_poll(
        assistant_id="a", thread={"messages": [user("x")]}
    )
    assert run.status == "failed"
    assert run.failed_at is not None
    assert run.last_error is not None
    assert run.last_error.code == "server_error"

    truncating = make_mock(MockConfig(fail_rate=0.0, incomplete_rate=1.0, tool_rate=0.0))
    beta = truncating.client.beta
    run = await beta.threads.create_and_run_poll(
        assistant_id="a", thread={"messages": [user("abcdefgh")]}
    )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    (message,) = (await beta.threads.messages.list(run.thread_id, run_id=run.id)).data
    assert message.status == "incomplete"
    assert message.incomplete_details is not None


async def test_invalid_requests_are_400(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET, duration_median_s=100))
    beta = mock.client.beta
    run = await beta.threads.create_and_run(assistant_id="a", thread={"messages": [user("x")]})
    with pytest.raises(openai.BadRequestError, match="already has an active run"):
        await beta.threads.runs.create(run.thread_id, assistant_id="a")
    with pytest.raises(openai.BadRequestError, match="while a run"):
        await beta.threads.messages.create(run.thread_id, role="user", content="more")
    with pytest.raises(openai.BadRequestError, match="do not accept tool outputs"):
        await beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=[{"tool_call_id": "c", "output": "o"}]
        )
    with pytest.raises(openai.BadRequestError) as info:
        await beta.threads.messages.list(run.thread_id, limit=101)
    assert info.value.param == "limit"
    assert info.value.type == "invalid_request_error"


async def test_missing_tool_call_ids_are_400(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fail_rate=0.0, tool_rate=1.0))
    beta = mock.client.beta
    run = await beta.threads.create_and_run_poll(assistant_id="a", thread={"messages": [user("x")]})
    assert run.status == "requires_action"
    with pytest.raises(openai.BadRequestError, match="Expected tool outputs for call_ids"):
        await beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=[]
        )


async def test_unknown_ids_are_404(make_mock: MockFactory) -> None:
    mock = make_mock()
    beta = mock.client.beta
    with pytest.raises(openai.NotFoundError) as info:
        await beta.threads.retrieve("thread_nope")
    assert info.value.body == {
        "message": "No thread found with id 'thread_nope'.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    thread = await beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        await beta.threads.runs.retrieve("run_nope", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        await beta.threads.messages.retrieve("msg_nope", thread_id=thread.id)
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        await mock.client.get("/nothing/here", cast_to=object)


async def test_messages_pagination_and_filters(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET))
    beta = mock.client.beta
    thread = await beta.threads.create(messages=[user(f"m{i}") for i in range(5)])
    run = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="a")
    assert run.status == "completed"

    def texts(page: Any) -> list[str]:
        return [m.content[0].text.value for m in page.data]

    everything = await beta.threads.messages.list(thread.id)
    assert texts(everything)[0] == expected_reply("m4")  # newest first by default
    assert texts(everything)[1:] == ["m4", "m3", "m2", "m1", "m0"]
    first = await beta.threads.messages.list(thread.id, order="asc", limit=2)
    assert (texts(first), first.has_more) == (["m0", "m1"], True)
    assert first.first_id == first.data[0].id
    assert first.last_id == first.data[1].id
    after = await beta.threads.messages.list(
        thread.id, order="asc", limit=2, after=first.data[-1].id
    )
    assert texts(after) == ["m2", "m3"]
    before = await beta.threads.messages.list(
        thread.id, order="asc", limit=2, before=after.data[0].id
    )
    assert texts(before) == ["m0", "m1"]
    only_run = await beta.threads.messages.list(thread.id, run_id=run.id)
    assert [m.run_id for m in only_run.data] == [run.id]
    collected = [m async for m in beta.threads.messages.list(thread.id, order="asc", limit=2)]
    assert len(collected) == 6  # the SDK's auto-pagination follows the cursors


async def test_thread_accepts_a_new_run_after_the_last_one_ended(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**QUIET))
    beta = mock.client.beta
    run = await beta.threads.create_and_run_poll(assistant_id="a", thread={"messages": [user("1")]})
    await beta.threads.messages.create(run.thread_id, role="user", content="2")
    second = await beta.threads.runs.create_and_poll(thread_id=run.thread_id, assistant_id="a")
    latest = await beta.threads.messages.list(run.thread_id, limit=1)
    assert latest.data[0].run_id == second.id
    assert latest.data[0].content[0].text.value == expected_reply("2")  # type: ignore[union-attr]


async def test_poll_after_header_paces_the_sdk(make_mock: MockFactory) -> None:
    mock = make_mock(
        MockConfig(**QUIET, poll_after_ms=5000, duration_median_s=20, duration_sigma=0)
    )
    run = await mock.client.beta.threads.create_and_run_poll(
        assistant_id="a", thread={"messages": [user("x")]}
    )
    assert run.status == "completed"
    stats = await mock.stats()
    # Done at 0.5 + 20 s; checks at t = 0, 5, 10, 15, 20 (still running) and 25.
    assert stats["checks_per_job"]["total"] == 6


async def test_runs_create_reads_the_prompt_from_additional_messages(
    make_mock: MockFactory,
) -> None:
    mock = make_mock(MockConfig(**QUIET))
    beta = mock.client.beta
    thread = await beta.threads.create(messages=[user("old")])
    run = await beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id="a", additional_messages=[user("new")]
    )
    page = await beta.threads.messages.list(thread.id, run_id=run.id)
    text = page.data[0].content[0]
    assert text.type == "text"
    assert text.text.value == expected_reply("new")
    second = await beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id="a")
    runs = await beta.threads.runs.list(thread.id, order="asc", limit=1)
    assert ([r.id for r in runs.data], runs.has_more) == ([run.id], True)
    newest = await beta.threads.runs.list(thread.id, limit=1)
    assert newest.data[0].id == second.id


async def test_runs_call_only_declared_functions(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fail_rate=0.0, tool_rate=1.0))
    beta = mock.client.beta
    bare = await beta.threads.create_and_run_poll(
        assistant_id="a", thread={"messages": [user("x")]}, tools=[]
    )
    assert (bare.status, bare.tools) == ("completed", [])
    assistant = await beta.assistants.create(model="gpt-4o")  # declares no tools
    plain = await beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [user("y")]}
    )
    assert plain.status == "completed"
    search = {"type": "function", "function": {"name": "search"}}
    declared = await beta.threads.create_and_run_poll(
        assistant_id="a",
        thread={"messages": [user("z")]},
        tools=[search],  # type: ignore[list-item]
    )
    assert declared.required_action is not None
    (call,) = declared.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "search"
    # A made-up assistant stands for one the mock cannot see: it declares tool_name.
    made_up = await beta.threads.create_and_run_poll(
        assistant_id="asst_unseen", thread={"messages": [user("w")]}
    )
    assert made_up.status == "requires_action"
    assert [t.function.name for t in made_up.tools if t.type == "function"] == ["lookup"]
