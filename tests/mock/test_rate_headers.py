"""x-ratelimit-* headers as OpenAI documents them: a continuously refilled bucket.

The examples are OpenAI's: the rate-limits guide's table (60 RPM: remaining 59, reset ``1s``;
150,000 TPM: remaining 149,984) and headers of real replies (5,000 RPM: 4,999 and ``12ms``;
160,000 TPM: 159,976 and ``9ms``). ``header_semantics="window"`` keeps the mock's former
meaning (until the 60 s window is empty).
"""

from __future__ import annotations

import asyncio

import pytest

from batchpoll.mock import MockConfig

from .conftest import MockFactory

pytestmark = pytest.mark.looptime


def rate_headers(headers: dict[str, str] | object) -> dict[str, str]:
    return {
        name: headers[name]  # type: ignore[index]
        for name in (
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        )
    }


async def test_openais_guide_example_60_rpm_one_request_spent(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=60, tpm=150_000, fail_rate=0.0))
    reply = await mock.http.post("/v1/responses", json={"model": "m", "input": "x" * 64})
    assert reply.status_code == 200
    assert rate_headers(reply.headers) == {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",  # the guide's example
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149984",  # the guide's example: 16 tokens spent
        # 16 tokens at 2,500 per second: 6.4 ms, rounded up. (The guide's table says 6m0s
        # here, which no bucket of 150,000 per minute can give; real replies agree with the
        # bucket, see the next test.)
        "x-ratelimit-reset-tokens": "7ms",
    }


async def test_real_reply_example_5000_rpm_160000_tpm(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=5000, tpm=160_000, fail_rate=0.0))
    reply = await mock.http.post("/v1/responses", json={"model": "m", "input": "x" * 96})
    assert rate_headers(reply.headers) == {
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-remaining-requests": "4999",
        "x-ratelimit-reset-requests": "12ms",
        "x-ratelimit-limit-tokens": "160000",
        "x-ratelimit-remaining-tokens": "159976",
        "x-ratelimit-reset-tokens": "9ms",
    }


async def test_after_a_burst_remaining_recovers_at_the_limits_rate(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=1200))  # 20 per second, enforced per second
    for _ in range(20):
        assert (await mock.http.get("/v1/responses/resp_x")).status_code == 404
    seen = []
    for _ in range(3):
        await asyncio.sleep(0.25)
        limited = await mock.http.get("/v1/responses/resp_x")
        assert limited.status_code == 429  # enforcement is unchanged: 20 per 1 s window
        seen.append(
            (
                limited.headers["x-ratelimit-remaining-requests"],
                limited.headers["x-ratelimit-reset-requests"],
            )
        )
    assert seen == [("1185", "750ms"), ("1190", "500ms"), ("1195", "250ms")]
    await asyncio.sleep(0.25)
    again = await mock.http.get("/v1/responses/resp_x")
    assert again.status_code == 404
    assert again.headers["x-ratelimit-remaining-requests"] == "1199"
    assert again.headers["x-ratelimit-reset-requests"] == "50ms"


async def test_window_semantics_keep_the_former_headers(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=60, header_semantics="window"))
    reply = await mock.http.get("/v1/responses/resp_x")
    assert reply.headers["x-ratelimit-remaining-requests"] == "59"
    assert reply.headers["x-ratelimit-reset-requests"] == "1m0s"
    await asyncio.sleep(15)
    later = await mock.http.get("/v1/responses/resp_x")
    assert later.headers["x-ratelimit-remaining-requests"] == "58"
    assert later.headers["x-ratelimit-reset-requests"] == "1m0s"
    # Live switch to OpenAI's semantics: the bucket refilled long ago, minus this request.
    await mock.http.post("/_mock/config", json={"header_semantics": "bucket"})
    now = await mock.http.get("/v1/responses/resp_x")
    assert now.headers["x-ratelimit-remaining-requests"] == "59"
    assert now.headers["x-ratelimit-reset-requests"] == "1s"
