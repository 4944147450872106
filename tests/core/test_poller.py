"""The Poller end to end against the in-process mock, in virtual time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH, virtual_mock

from batchpoll import AuthenticationFailedError, LoopClock, Outcome, Poller, PollSettings, Status
from batchpoll.mock import MockConfig, asgi_client, create_app, expected_reply

pytestmark = pytest.mark.looptime


def lookup(query: str, round: int) -> str:  # the mock's tool: any deterministic answer works
    return f"{query[::-1]}#{round}"


mock = virtual_mock


def poller(client: AsyncOpenAI, **kw: Any) -> Poller:
    kw.setdefault("rpm", 1200)
    kw.setdefault("tools", {"lookup": lookup})
    return Poller(client, clock=LoopClock(epoch=EPOCH), seed=1, **kw)


def thread(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


def correct(prompt: str, outcome_text: str | None, rounds: int) -> bool:
    outputs = [lookup(prompt, r) for r in range(1, rounds + 1)]
    return outcome_text == expected_reply(prompt, outputs)


async def test_runs_complete_with_correct_replies_and_tool_calls() -> None:
    app, client = mock(rpm=1200, tool_rate=0.4, fail_rate=0.1, seed=3)
    prompts = [f"question {i}" for i in range(60)]
    async with poller(client) as p:
        jobs = [await p.create_and_run(assistant_id="asst_1", thread=thread(q)) for q in prompts]
        outcomes = [await job for job in jobs]
    stats = app.state.mock.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_accepted_1s"] <= 20
    statuses = {o.status for o in outcomes}
    assert statuses <= {Status.COMPLETED, Status.FAILED}
    assert Status.FAILED in statuses
    assert Status.COMPLETED in statuses
    for prompt, outcome in zip(prompts, outcomes, strict=True):
        if outcome.ok:
            assert any(correct(prompt, outcome.output_text, r) for r in (0, 1, 2, 3)), outcome
            assert outcome.ids.keys() == {"thread_id", "run_id"}
        else:
            assert outcome.error is not None
    assert stats["tool_outputs_submitted"] >= 1
    assert stats["actions_expired"] == 0
    total = sum(o.requests for o in outcomes)
    assert total == stats["requests_total"]  # every request the server saw is charged


async def test_background_responses() -> None:
    app, client = mock(rpm=600, fail_rate=0.0, tool_rate=0.0)
    async with poller(client, rpm=600) as p:
        jobs = [await p.create_response(model="gpt-test", input=f"hello {i}") for i in range(20)]
        outcomes = [o async for o in p.as_completed(jobs)]
    assert len(outcomes) == 20
    for outcome in outcomes:
        assert outcome.status is Status.COMPLETED
        assert outcome.output_text == expected_reply(f"hello {outcome.output_text.split()[-1]}")  # type: ignore[union-attr]
        assert outcome.requests == 1 + outcome.checks  # no fetch needed
    assert app.state.mock.stats()["rate_limited"] == 0


async def test_track_existing_jobs_and_404_ends_only_that_job() -> None:
    _, client = mock(rpm=1200, fail_rate=0.0, tool_rate=0.0)
    run = await client.beta.threads.create_and_run(assistant_id="a", thread=thread("x"))
    resp = await client.responses.create(model="m", input="y", background=True)
    async with poller(client) as p:
        a = p.track_run(run.thread_id, run.id, key="a")
        b = p.track_response(resp.id, key="b")
        c = p.track_run(run.thread_id, "run_missing", key="c")
        oa, ob, oc = await a, await b, await c
    assert (oa.status, oa.output_text) == (Status.COMPLETED, expected_reply("x"))
    assert (ob.status, ob.output_text) == (Status.COMPLETED, expected_reply("y"))
    assert oc.status is Status.ERROR
    assert oc.error is not None
    assert oc.error.type == "http_404"
    assert oc.requests == 1


async def test_429s_pause_the_budget_and_every_job_finishes() -> None:
    app, client = mock(rpm=300, fail_rate=0.0, tool_rate=0.2)  # the account is 4x smaller
    async with poller(client, rpm=1200) as p:
        jobs = [await p.create_and_run(assistant_id="a", thread=thread(f"q{i}")) for i in range(40)]
        outcomes = [await j for j in jobs]
        seen = p.stats()
    assert all(o.status is Status.COMPLETED for o in outcomes)
    server = app.state.mock.stats()
    assert server["rate_limited"] == seen.rate_limited
    assert server["actions_expired"] == 0
    assert seen.target_rpm <= 300  # learned from x-ratelimit-limit-requests


async def test_transient_faults_are_retried_within_the_budget() -> None:
    app, client = mock(
        rpm=1200, error_rate=0.15, disconnect_rate=0.05, malformed_rate=0.05, tool_rate=0.2, seed=7
    )
    async with poller(client) as p:
        prompts = [f"q{i}" for i in range(40)]
        jobs = []
        for q in prompts:
            jobs.append(await p.create_and_run(assistant_id="a", thread=thread(q)))
        outcomes = [await j for j in jobs]
        stats = p.stats()
    assert stats.transient_errors > 0
    for prompt, outcome in zip(prompts, outcomes, strict=True):
        assert outcome.status in (Status.COMPLETED, Status.FAILED, Status.ERROR), outcome
        if outcome.ok:
            assert any(correct(prompt, outcome.output_text, r) for r in (0, 1, 2, 3))
    assert sum(o.ok for o in outcomes) >= 30
    assert app.state.mock.stats()["max_accepted_1s"] <= 20


@pytest.mark.parametrize("first", ["create", "plain request"])
async def test_a_rejected_key_stops_everything_fast(first: str) -> None:
    loop = asyncio.get_running_loop()
    app = create_app(MockConfig(api_key="sk-right"), clock=lambda: EPOCH + loop.time())
    client = asgi_client(app, api_key="sk-wrong-secret")
    async with poller(client) as p:
        tracked = p.track_run("thread_1", "run_1")
        call = (  # Poller.request stops the poller the same way a create does
            p.create_and_run(assistant_id="a", thread=thread("x"))
            if first == "create"
            else p.request(lambda: p.client.beta.threads.create())
        )
        with pytest.raises(AuthenticationFailedError) as err:
            await call
        with pytest.raises(AuthenticationFailedError):  # and nothing else is sent
            await p.create_and_run(assistant_id="a", thread=thread("y"))
        outcome = await tracked
    assert "sk-wrong-secret" not in str(err.value)
    assert outcome.status is Status.ERROR
    assert app.state.mock.stats()["requests_total"] <= 2


async def test_deadline_times_out_and_cancels() -> None:
    _app, client = mock(
        rpm=1200, duration_median_s=500, duration_sigma=0.01, fail_rate=0.0, tool_rate=0
    )
    settings = PollSettings(timeout_s=30)
    async with poller(client, poll=settings) as p:
        job = await p.create_and_run(assistant_id="a", thread=thread("slow"))
        t0 = asyncio.get_running_loop().time()
        outcome = await job
    assert outcome.status is Status.TIMED_OUT
    assert 29 <= asyncio.get_running_loop().time() - t0 <= 32
    run = await client.beta.threads.runs.retrieve(
        outcome.ids["run_id"], thread_id=outcome.ids["thread_id"]
    )
    assert run.status in ("cancelling", "cancelled")


async def test_unknown_tool_fails_the_job_and_cancels_the_run() -> None:
    _, client = mock(rpm=1200, tool_rate=1.0, fail_rate=0.0)
    async with poller(client, tools={}) as p:
        outcome = await (await p.create_and_run(assistant_id="a", thread=thread("t")))
    assert outcome.status is Status.ERROR
    assert outcome.error is not None
    assert outcome.error.type == "unknown_tool"
    run = await client.beta.threads.runs.retrieve(
        outcome.ids["run_id"], thread_id=outcome.ids["thread_id"]
    )
    assert run.status in ("cancelling", "cancelled")


async def test_a_hung_tool_lets_the_run_expire_and_that_is_the_outcome() -> None:
    async def hang(**_: Any) -> str:
        await asyncio.sleep(1000)
        return "late"

    _, client = mock(rpm=1200, tool_rate=1.0, fail_rate=0.0, action_expiry_s=10)
    from batchpoll import ToolSettings

    async with poller(
        client, tools={"lookup": hang}, tool_settings=ToolSettings(timeout_s=30)
    ) as p:
        outcome = await (await p.create_and_run(assistant_id="a", thread=thread("t")))
    assert outcome.status is Status.EXPIRED


async def test_poll_after_hint_spaces_checks() -> None:
    _app, client = mock(
        rpm=1200,
        poll_after_ms=4000,
        duration_median_s=20,
        duration_sigma=0.01,
        tool_rate=0,
        fail_rate=0,
    )
    async with poller(client) as p:
        outcome = await (await p.create_and_run(assistant_id="a", thread=thread("t")))
    assert outcome.ok
    assert outcome.checks <= 20 / 4 + 2


async def test_repeated_requires_action_rounds() -> None:
    _, client = mock(rpm=1200, tool_rate=1.0, tool_repeat_rate=1.0, max_tool_rounds=3, fail_rate=0)
    calls: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> str:
        calls.append(kwargs)
        return lookup(**kwargs)

    async with poller(client, tools={"lookup": recording}) as p:
        outcome = await (await p.create_and_run(assistant_id="a", thread=thread("multi")))
    assert outcome.ok
    assert [c["round"] for c in calls] == [1, 2, 3]
    assert correct("multi", outcome.output_text, 3)


def test_outcome_is_json_ready() -> None:
    from batchpoll import Outcome

    o = Outcome(
        key="k",
        kind="assistants",
        status=Status.COMPLETED,
        output_text="x",
        ids={"thread_id": "t", "run_id": "r"},
    )
    assert json.loads(json.dumps(o.as_dict()))["thread_id"] == "t"


async def test_run_expiry_is_seen_right_after_expires_at() -> None:
    app, client = mock(
        rpm=1200,
        run_expiry_s=40,
        duration_median_s=500,
        duration_sigma=0.01,
        fail_rate=0,
        tool_rate=0,
    )
    slow = PollSettings(strategy="backoff", max_interval_s=30, jitter=0.0)
    async with poller(client, poll=slow) as p:
        job = await p.create_and_run(assistant_id="a", thread=thread("x"))
        t0 = asyncio.get_running_loop().time()
        outcome = await job
    elapsed = asyncio.get_running_loop().time() - t0
    assert outcome.status is Status.EXPIRED
    assert 40 <= elapsed <= 40 + slow.expiry_grace_s + 1.0  # not a whole 30 s interval later
    assert app.state.mock.stats()["runs_expired"] == 1


async def test_a_cancelled_create_does_not_keep_the_poller_waiting() -> None:
    _, client = mock(rpm=60, fail_rate=0.0, tool_rate=0.0)  # one token per second
    async with poller(client, rpm=60) as p:
        first = await p.create_and_run(assistant_id="a", thread=thread("1"))
        pending = asyncio.ensure_future(p.create_and_run(assistant_id="a", thread=thread("2")))
        await asyncio.sleep(0.1)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert (await first).ok
    assert p.stats().in_flight == 0


async def bulk_of_300(share: float) -> tuple[float, float]:
    """When the last of 300 runs was created, and when the last ended (s from the start)."""
    loop = asyncio.get_running_loop()
    app, client = mock(
        rpm=1200, duration_median_s=4.0, duration_sigma=0.5, fail_rate=0.03,
        tool_rate=0.1, action_expiry_s=20.0, seed=5,
    )  # fmt: skip
    t0 = loop.time()
    created: list[float] = []

    async def one(p: Poller, i: int) -> Outcome:
        job = await p.create_and_run(assistant_id="a", thread=thread(f"share {i}"))
        created.append(loop.time() - t0)
        return await job

    async with poller(client, poll=PollSettings(create_share=share)) as p:
        outcomes = await asyncio.gather(*(one(p, i) for i in range(300)))
    server = app.state.mock.stats()
    assert server["rate_limited"] == 0
    assert server["actions_expired"] == 0
    assert all(o.status in (Status.COMPLETED, Status.FAILED) for o in outcomes)
    return max(created), loop.time() - t0


async def test_waiting_creates_share_the_budget_so_the_last_items_start_sooner() -> None:
    # 300 runs created at once at 1,200 RPM: the checks of the first ones soon want every
    # token. With strict priority (create_share=0) creates get what checks leave, and the
    # last items start late; with their share they start sooner and the batch ends sooner,
    # with no 429 and no tool run left to expire.
    strict_last, strict_end = await bulk_of_300(0.0)
    shared_last, shared_end = await bulk_of_300(0.5)
    assert shared_last <= strict_last - 3.0
    assert shared_end <= strict_end - 3.0


async def test_creates_still_queued_do_not_space_out_the_checks_of_jobs_in_flight() -> None:
    # 600 runs at 600 RPM: most creates wait for a long time. While checks queue, each job
    # in flight gets its fair share of the budget, a share of the jobs that *exist*: counting
    # the queued creates too would space checks by 30 s and detect completions late.
    app, client = mock(
        rpm=600, duration_median_s=4.0, duration_sigma=0.5, fail_rate=0.0, tool_rate=0.2,
        action_expiry_s=20.0, seed=1,
    )  # fmt: skip
    async with poller(client, rpm=600) as p:
        jobs = await asyncio.gather(
            *(p.create_and_run(assistant_id="a", thread=thread(f"fair {i}")) for i in range(600))
        )
        outcomes = [await job for job in jobs]
    server = app.state.mock.stats()
    assert all(o.status is Status.COMPLETED for o in outcomes)
    assert server["actions_expired"] == 0
    assert server["detection_lag_s"]["p99"] <= 18.0  # 28 s when queued creates counted
