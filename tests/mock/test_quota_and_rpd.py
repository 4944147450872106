"""The out-of-quota 429 (``insufficient_quota``) and requests per day (RPD), in OpenAI's words."""

from __future__ import annotations

import asyncio

import openai
import pytest

from batchpoll import LoopClock, Poller, QuotaExhaustedError
from batchpoll.mock import MockConfig, asgi_client, create_app
from batchpoll.mock._limiter import RateLimiter
from tests._virtual import EPOCH

from .conftest import MockFactory

pytestmark = pytest.mark.looptime

QUOTA = {
    "error": {
        "message": (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        ),
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}


async def test_after_n_accepted_requests_every_request_is_out_of_quota(
    make_mock: MockFactory,
) -> None:
    mock = make_mock(MockConfig(quota_exhausted_after=2, rpm=600))
    for _ in range(2):
        assert (await mock.http.post("/v1/responses", json={"model": "m"})).status_code == 200
    for path in ("/v1/responses/resp_x", "/v1/threads/thread_x"):
        refused = await mock.http.get(path)
        assert refused.status_code == 429
        assert refused.json() == QUOTA
        assert "retry-after" not in refused.headers  # nothing to wait for
        assert "retry-after-ms" not in refused.headers
        assert refused.headers["x-ratelimit-limit-requests"] == "600"
    with pytest.raises(openai.RateLimitError) as info:
        await mock.client.responses.create(model="m", input="x")
    assert info.value.code == "insufficient_quota"
    stats = await mock.stats()
    assert stats["requests_accepted"] == 2  # a refusal consumes nothing
    assert stats["insufficient_quota"] == 3
    assert stats["rate_limited"] == 3
    assert stats["rate_limited_requests"] == 0


async def test_an_exhausted_quota_stops_batchpoll_with_one_clear_error() -> None:
    loop = asyncio.get_running_loop()
    app = create_app(
        MockConfig(quota_exhausted_after=5, rpm=1200), clock=lambda: EPOCH + loop.time()
    )
    client = asgi_client(app, api_key="sk-test")
    t0 = loop.time()
    async with Poller(client, clock=LoopClock(epoch=EPOCH), seed=1, rpm=1200) as p:
        jobs = []

        async def create_all() -> None:
            for i in range(20):
                jobs.append(await p.create_response(model="m", input=f"q{i}", background=True))

        with pytest.raises(QuotaExhaustedError, match="out of quota: You exceeded"):
            await create_all()
        with pytest.raises(QuotaExhaustedError):  # and it stays stopped
            await p.create_response(model="m", input="later", background=True)
        outcomes = await asyncio.gather(*jobs)
    assert len(jobs) == 5
    assert all(o.status.value == "error" for o in outcomes)  # the jobs in flight end too
    server = app.state.mock.stats()
    assert server["insufficient_quota"] <= 2  # refused, never retried in a loop
    assert loop.time() - t0 < 5.0


async def test_rpd_429_in_openais_words(make_mock: MockFactory) -> None:
    # OpenAI's: "... on requests per day (RPD): Limit 200, Used 200, Requested 1. Please try
    # again in 7m12s." One request comes back after 86,400 s / 200 = 432 s.
    mock = make_mock(MockConfig(rpd=200))
    for _ in range(200):
        assert (await mock.http.get("/v1/responses/resp_x")).status_code == 404
    limited = await mock.http.get("/v1/responses/resp_x")
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["message"] == (
        "Rate limit reached for gpt-4o-mini in organization org-mock on requests per day "
        "(RPD): Limit 200, Used 200, Requested 1. Please try again in 7m12s. Visit "
        "https://platform.openai.com/account/rate-limits to learn more."
    )
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert limited.headers["retry-after"] == "432"
    await asyncio.sleep(432)
    assert (await mock.http.get("/v1/responses/resp_x")).status_code == 404
    assert (await mock.http.get("/v1/responses/resp_x")).status_code == 429
    assert (await mock.stats())["rate_limited_requests"] == 2


def test_rpd_and_rpm_together_the_longer_wait_binds() -> None:
    lim = RateLimiter()
    lim.configure(60, None, {}, {}, rpd=2)
    assert lim.try_acquire(0.0, "get").accepted
    minute = lim.try_acquire(0.5, "get")  # the 1 s quantum binds first
    assert (minute.window, minute.wait_s) == ("1s", 0.5)
    assert lim.try_acquire(1.0, "get").accepted
    day = lim.try_acquire(2.0, "get")
    assert (day.window, day.binding_limit, day.binding_used) == ("1d", 2, 2)
    assert day.wait_s == pytest.approx(43_200 - 2.0)  # half a day's refill gives one request
    lim.configure(60, None, {}, {}, rpd=None)  # lifted live
    assert lim.try_acquire(2.0, "get").accepted
