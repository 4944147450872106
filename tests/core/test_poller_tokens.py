"""The token budget through the Poller, against the in-process mock's TPM limit, in virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH, virtual_mock

from batchpoll import LoopClock, Poller, Status
from batchpoll.mock import estimate_request_tokens

pytestmark = pytest.mark.looptime


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


def mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    config.setdefault("fail_rate", 0.0)
    return virtual_mock(**config)


def sized(i: int) -> str:
    """Inputs from 200 to 12,000 characters, as a TPM-bound workload has."""
    return f"question {i} " + "x" * (200 + (i * 7919) % 11_800)


async def test_a_tpm_bound_run_waits_for_tokens_instead_of_drawing_429s() -> None:
    tpm = 60_000
    app, client = mock(rpm=6000, tpm=tpm, tool_rate=0.3, seed=2)
    prompts = [sized(i) for i in range(120)]
    loop = asyncio.get_running_loop()
    async with Poller(
        client, rpm=6000, tpm=tpm, tools=[lookup], clock=LoopClock(epoch=EPOCH), seed=1
    ) as p:
        jobs = [
            await p.create_response(model="gpt-test", input=q, max_output_tokens=200, key=q)
            for q in prompts
        ]
        outcomes = [await job for job in jobs]
        tokens = p.stats().tokens
        assert tokens is not None
    elapsed = loop.time()
    stats = app.state.mock.stats()
    assert {o.status for o in outcomes} == {Status.COMPLETED}
    assert stats["rate_limited_tokens"] <= 1  # at most the first probe's, if the bucket were small
    assert stats["rate_limited_requests"] == 0
    charged = stats["tokens_charged"]
    assert tokens.reserved >= charged * 0.9  # the client counted what the server charged
    # The server's bucket starts full (one minute's worth) and refills at tpm / 60 per second.
    bound_s = max(0.0, charged - tpm) / (tpm / 60.0)
    assert bound_s > 30  # the workload really is bound by tokens
    assert elapsed <= 1.1 * bound_s + 10, (elapsed, bound_s)  # seen: 221 s for 218 s


async def test_a_request_larger_than_the_limit_is_an_error_at_once() -> None:
    app, client = mock(rpm=600, tpm=1000, tool_rate=0.0)
    async with Poller(client, rpm=600, tpm=1000, clock=LoopClock(epoch=EPOCH)) as p:
        big = await p.create_response(model="gpt-test", input="x" * 8000, key="big")
        small = await p.create_response(model="gpt-test", input="hello", key="small")
        outcomes = [await big, await small]
    assert outcomes[0].status is Status.ERROR
    assert outcomes[0].error is not None
    assert outcomes[0].error.type == "request_too_large"
    assert outcomes[0].requests == 0  # refused before anything was sent
    assert outcomes[1].status is Status.COMPLETED
    assert app.state.mock.stats()["requests_too_large"] == 0


async def test_the_servers_request_too_large_is_not_retried() -> None:
    """Our tpm is higher than the server's: the server refuses the big one with its 429."""
    app, client = mock(rpm=600, tpm=1000, tool_rate=0.0)
    async with Poller(client, rpm=600, tpm=100_000, clock=LoopClock(epoch=EPOCH)) as p:
        big = await p.create_response(model="gpt-test", input="x" * 8000, key="big")
        outcome = await big
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert outcome.error.type == "request_too_large"
    assert outcome.error.message.startswith("Request too large for gpt-test")
    assert outcome.requests == 1
    assert app.state.mock.stats()["requests_too_large"] == 1


async def test_a_smaller_server_limit_is_learned_from_its_headers_and_429s() -> None:
    app, client = mock(rpm=6000, tpm=20_000, tool_rate=0.0)
    prompts = [sized(i)[:2000] for i in range(60)]
    async with Poller(client, rpm=6000, tpm=200_000, clock=LoopClock(epoch=EPOCH)) as p:
        jobs = [await p.create_response(model="gpt-test", input=q) for q in prompts]
        outcomes = [await job for job in jobs]
        limit = p.stats().tokens.models["gpt-test"].limit_tpm  # type: ignore[union-attr]
    stats = app.state.mock.stats()
    assert {o.status for o in outcomes} == {Status.COMPLETED}
    assert limit == 20_000
    assert stats["rate_limited_tokens"] <= 3
    assert stats["rate_limited_requests"] == 0


async def test_continuations_reserve_their_tokens_too() -> None:
    app, client = mock(rpm=600, tpm=50_000, tool_rate=1.0, parallel_calls_rate=0.0)
    async with Poller(
        client, rpm=600, tpm=50_000, tools=[lookup], clock=LoopClock(epoch=EPOCH)
    ) as p:
        outcome = await (await p.create_response(model="gpt-test", input="q"))
        reserved = p.stats().tokens.reserved  # type: ignore[union-attr]
    assert outcome.tool_rounds == 1
    first = await client.responses.retrieve(outcome.response_ids[0])
    assert first.status == "completed"
    # Create and continuation: what the server charged is what the client reserved.
    assert reserved == app.state.mock.stats()["tokens_charged"]
    assert estimate_request_tokens({"model": "gpt-test", "input": "q"}) < reserved


async def test_creates_queued_for_request_tokens_do_not_sink_the_token_level() -> None:
    """Both limits bind: creates hold their tokens while they queue for a request token, and
    replies that come meanwhile were counted before them (a level sunk by them stalled this
    run, the demo's, at 1.5 x its bound for want of tokens it had)."""
    tpm = 40_000
    app, client = mock(
        rpm=1200,
        tpm=tpm,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=0.3,
        tool_repeat_rate=0.3,
        max_tool_rounds=2,
        seed=1,
    )
    filler = " and then some more context"
    prompts = [
        f"demo question {i}: what is {i} squared?" + filler * ((i * 37) % 66 + 6)
        for i in range(150)
    ]
    loop = asyncio.get_running_loop()
    async with Poller(
        client, rpm=1200, tpm=tpm, tools=[lookup], clock=LoopClock(epoch=EPOCH), seed=1
    ) as p:
        # All at once, as a bulk run does: 150 creates queue for tokens and request tokens.
        creates = [p.create_response(model="gpt-4o-mini", input=q, key=q) for q in prompts]
        jobs = await asyncio.gather(*creates)
        outcomes = [await job for job in jobs]
    stats = app.state.mock.stats()
    assert {o.status for o in outcomes} <= {Status.COMPLETED, Status.FAILED}
    assert stats["rate_limited"] == 0
    bound_s = (stats["tokens_charged"] - tpm) / (tpm / 60.0)
    assert bound_s > 40
    assert loop.time() <= 1.1 * bound_s + 8, (loop.time(), bound_s)
