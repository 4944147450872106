"""``Poller(max_in_flight=N)``: creates wait while N jobs are live (the library's twin of
``batchpoll run --max-in-flight``). In virtual time against the in-process mock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH

from batchpoll import ConfigurationError, LoopClock, Poller, PollerClosedError, Status
from batchpoll.mock import MockConfig, asgi_client, create_app

pytestmark = pytest.mark.looptime


def mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    loop = asyncio.get_running_loop()
    app = create_app(MockConfig(**config), clock=lambda: EPOCH + loop.time())
    return app, asgi_client(app, api_key="sk-test-secret")


async def test_creates_wait_while_max_in_flight_jobs_are_live() -> None:
    app, client = mock(rpm=6000, tool_rate=0.0, fail_rate=0.0, duration_median_s=5.0)
    peak = 0
    async with Poller(client, rpm=6000, max_in_flight=4, clock=LoopClock(epoch=EPOCH)) as p:

        async def one(i: int) -> Status:
            nonlocal peak
            job = await p.create_response(model="m", input=f"question {i}")
            peak = max(peak, p.stats().in_flight)
            return (await job).status

        statuses = await asyncio.gather(*(one(i) for i in range(20)))
    assert statuses == [Status.COMPLETED] * 20
    assert peak == 4
    jobs = app.state.mock.jobs
    created = sorted(j.timing.created_at for j in jobs)
    first_four = sorted(jobs, key=lambda j: j.timing.created_at)[:4]
    first_end = min(j.timing.created_at + j.draws.work_s for j in first_four)
    # At most 4 at once: the 5th create was sent only once a first job had ended.
    assert created[4] >= first_end


class _Leave(Exception):
    pass


async def test_a_waiting_create_is_released_when_the_poller_closes() -> None:
    _, client = mock(rpm=6000, tool_rate=0.0, fail_rate=0.0, duration_median_s=50.0)
    p = Poller(client, rpm=6000, max_in_flight=1, clock=LoopClock(epoch=EPOCH))
    seen: list[Any] = []

    async def use() -> None:
        async with p:
            await p.create_response(model="m", input="first")
            seen.append(asyncio.ensure_future(p.create_response(model="m", input="second")))
            await asyncio.sleep(1.0)
            assert not seen[0].done()
            p.track_response("resp_unknown")  # tracking never waits, but counts
            assert p.stats().in_flight == 2
            raise _Leave  # leave without waiting for the jobs

    with pytest.raises(_Leave):
        await use()
    waiting = seen[0]
    with pytest.raises(PollerClosedError):
        await waiting


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_in_flight"):
        Poller(asgi_client(create_app(MockConfig())), rpm=60, max_in_flight=0)


async def test_max_concurrent_creates_bounds_the_creates_on_the_wire() -> None:
    """A crash can leave in doubt only the creates between their token and their reply: at
    most ``max_concurrent_creates`` of them, however many creates are waiting."""
    app, client = mock(
        rpm=60_000, tool_rate=0.0, fail_rate=0.0, duration_median_s=5.0, latency_ms=100.0
    )
    on_wire = peak = 0
    inner = client.responses.create

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal on_wire, peak
        on_wire += 1
        peak = max(peak, on_wire)
        try:
            return await inner(*args, **kwargs)
        finally:
            on_wire -= 1

    async with Poller(
        client, rpm=60_000, max_concurrent_creates=3, clock=LoopClock(epoch=EPOCH)
    ) as p:
        p.client.responses.create = counted  # type: ignore[method-assign]
        start = asyncio.get_running_loop().time()
        jobs = await asyncio.gather(
            *(p.create_response(model="m", input=f"question {i}") for i in range(30))
        )
        created_in_s = asyncio.get_running_loop().time() - start
        outcomes = [await job for job in jobs]
    assert [o.status for o in outcomes] == [Status.COMPLETED] * 30
    assert peak == 3
    # 30 creates, 3 per 100 ms round trip: about 1 s, where an unbounded poller takes 0.1 s.
    assert 0.9 <= created_in_s <= 1.3
    assert len(app.state.mock.jobs) == 30


def test_max_concurrent_creates_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent_creates"):
        Poller(asgi_client(create_app(MockConfig())), rpm=60, max_concurrent_creates=0)
