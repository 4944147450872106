"""/_mock/stats and the control routes: what a client cost, measured by the server."""

from __future__ import annotations

import asyncio

import pytest

from batchpoll.mock import MockConfig

from .conftest import MockFactory

pytestmark = [
    pytest.mark.looptime,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

FIXED = {"fail_rate": 0.0, "tool_rate": 0.0, "duration_sigma": 0.0, "queue_delay_s": 0.0}


async def test_checks_and_detection_lag(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FIXED, duration_median_s=10.0))
    responses = mock.client.responses
    job = await responses.create(model="m", input="x", background=True)
    for _ in range(3):  # t = 4, 8, 12: the third check sees it done, 2 s late
        await asyncio.sleep(4)
        await responses.retrieve(job.id)
    await asyncio.sleep(1)
    await responses.retrieve(job.id)  # later checks do not change the lag
    stats = await mock.stats()
    assert stats["checks_per_job"] == {"jobs": 1, "total": 4, "mean": 4.0, "p50": 4, "max": 4}
    lag = stats["detection_lag_s"]
    assert lag["count"] == 1
    assert lag["p50"] == pytest.approx(2.0)
    assert lag["undetected"] == 0
    assert stats["jobs_by_status"] == {"completed": 1}


async def test_undetected_and_foreground_jobs(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FIXED, duration_median_s=1.0))
    await mock.client.responses.create(model="m", input="x", background=True)
    await mock.client.responses.create(model="m", input="y")  # answered at once: not polled
    await asyncio.sleep(5)
    stats = await mock.stats()
    assert stats["detection_lag_s"]["undetected"] == 1
    assert stats["checks_per_job"]["jobs"] == 1
    assert stats["creates_total"] == 2


async def test_action_detection_lag(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**{**FIXED, "tool_rate": 1.0}, duration_median_s=10.0))
    beta = mock.client.beta
    run = await beta.threads.create_and_run(
        assistant_id="a", thread={"messages": [{"role": "user", "content": "x"}]}
    )
    await asyncio.sleep(8)  # asked at t = 5
    seen = await beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert seen.status == "requires_action"
    stats = await mock.stats()
    assert stats["action_detection_lag_s"]["p50"] == pytest.approx(3.0)
    assert stats["tool_calls_asked"] == 1


async def test_duplicate_creates_by_metadata(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FIXED))
    beta = mock.client.beta
    for item in ("a", "a", "b"):
        await beta.threads.create_and_run(
            assistant_id="x",
            thread={
                "messages": [{"role": "user", "content": item}],
                "metadata": {"batchpoll_item": item},
            },
        )
    await mock.client.responses.create(model="m", input="c", metadata={"batchpoll_item": "a"})
    await mock.client.responses.create(model="m", input="c")
    stats = await mock.stats()
    assert stats["creates_total"] == 5
    assert stats["duplicate_creates"] == {
        "key": "batchpoll_item",
        "values": 2,
        "without_key": 1,
        "duplicated_values": 1,
        "extra_creates": 2,
        "top": {"a": 3},
    }
    reply = await mock.http.get("/_mock/creates", params={"key": "batchpoll_item"})
    assert reply.json() == {"a": 3, "b": 1}
    assert mock.state.creates_by_metadata("other") == {}


async def test_sliding_window_maxima(make_mock: MockFactory) -> None:
    mock = make_mock()
    for _ in range(5):
        await mock.http.get("/v1/responses/r")
    await asyncio.sleep(0.5)
    for _ in range(3):
        await mock.http.get("/v1/responses/r")
    await asyncio.sleep(0.6)  # the first five leave the 1 s window
    for _ in range(4):
        await mock.http.get("/v1/responses/r")
    stats = await mock.stats()
    assert (stats["max_accepted_1s"], stats["max_accepted_60s"]) == (8, 12)
    assert stats["requests_by_route"] == {"GET /v1/responses/{response_id}": {"404": 12}}


async def test_max_received_counts_rejected_requests_too(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=120))  # 2 accepted per second
    for _ in range(6):
        await mock.http.get("/v1/responses/r")
    await asyncio.sleep(1.0)
    await mock.http.get("/v1/responses/r")
    stats = await mock.stats()
    assert (stats["max_accepted_1s"], stats["max_received_1s"]) == (2, 6)
    assert stats["rate_limited"] == 4


async def test_stats_route_equals_state_stats(make_mock: MockFactory) -> None:
    mock = make_mock()
    await mock.client.responses.create(model="m", input="x")
    assert await mock.stats() == mock.state.stats()


async def test_control_routes_are_not_limited_or_faulted(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=1, error_rate=1.0, api_key="k"), api_key="wrong")
    for _ in range(10):
        assert (await mock.http.get("/_mock/stats")).status_code == 200
    assert (await mock.stats())["requests_total"] == 0


async def test_reset_clears_and_reconfigures(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(seed=1, deterministic_ids=True))
    first = await mock.client.responses.create(model="m", input="x")
    reply = await mock.http.post("/_mock/reset", json={"seed": 2, "rpm": 600})
    assert reply.status_code == 200
    stats = await mock.stats()
    assert (stats["requests_total"], stats["creates_total"], stats["rpm"]) == (0, 0, 600)
    second = await mock.client.responses.create(model="m", input="x")
    assert second.id != first.id  # ids derive from the seed
    mock.state.reset(seed=1)
    third = await mock.client.responses.create(model="m", input="x")
    assert third.id == first.id
    mock.state.reset(deterministic_ids=False)  # a new salt at each reset
    fourth = await mock.client.responses.create(model="m", input="x")
    mock.state.reset()
    assert fourth.id != (await mock.client.responses.create(model="m", input="x")).id != first.id
    assert (await mock.http.post("/_mock/reset", json={"rpm": -5})).status_code == 400


async def test_live_config_change(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=1200, api_key="sk-hidden"), api_key="sk-hidden")
    reply = await mock.http.post("/_mock/config", json={"rpm": 60})
    assert reply.status_code == 200
    assert reply.json()["rpm"] == 60
    assert (await mock.http.get("/_mock/config")).json()["api_key"] == "***"
    statuses = [(await mock.http.get("/v1/responses/r")).status_code for _ in range(3)]
    assert statuses == [404, 429, 429]
    mock.state.set_rpm(None)
    assert (await mock.http.get("/v1/responses/r")).status_code == 404
    bad = await mock.http.post("/_mock/config", json={"fail_rate": 2})
    assert bad.status_code == 400
    assert "fail_rate" in bad.json()["error"]["message"]


@pytest.mark.parametrize("deterministic_ids", [True, False])
async def test_same_seed_same_outcomes(make_mock: MockFactory, deterministic_ids: bool) -> None:
    async def outcomes() -> list[tuple[str, str, float]]:
        config = MockConfig(
            seed=11, fail_rate=0.3, tool_rate=0.0, deterministic_ids=deterministic_ids
        )
        mock = make_mock(config)
        ids = [
            (await mock.client.responses.create(model="m", input=str(i), background=True)).id
            for i in range(20)
        ]
        await asyncio.sleep(120)
        results = [await mock.client.responses.retrieve(i) for i in ids]
        durations = [job.draws.work_s for job in mock.state.jobs]
        return [(r.id, r.status or "", d) for r, d in zip(results, durations, strict=True)]

    first = await outcomes()
    second = await outcomes()
    assert [o[1:] for o in first] == [o[1:] for o in second]  # statuses and durations
    assert {status for _, status, _ in first} == {"completed", "failed"}
    same_ids = [o[0] for o in first] == [o[0] for o in second]
    assert same_ids == deterministic_ids
