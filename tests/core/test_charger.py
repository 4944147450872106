"""The charger: what each failure teaches the budgets, and the quota / key errors that stop a
poller. The SDK's real exceptions, over httpx2 mock transports, in virtual time."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import openai
import pytest
from tests.core.test_failures import QUOTA, TOKENS_429, body, raised

from batchpoll import (
    Budget,
    LoopClock,
    Poller,
    QuotaExhaustedError,
    TokenBudget,
)
from batchpoll._budget import Priority
from batchpoll._charger import Charger

pytestmark = pytest.mark.looptime


async def test_a_429_teaches_its_headers_and_pauses_the_request_budget() -> None:
    budget = Budget(1200)
    charger = Charger(budget, {}, None)
    exc = await raised(
        429,
        body("Rate limit reached ... on requests per min (RPM)", "requests", "rate_limit_exceeded"),
        {"x-ratelimit-limit-requests": "600", "retry-after-ms": "1500"},
    )
    failure = charger.on_failure(exc)
    assert failure.limit == "requests"
    stats = budget.stats()
    assert stats.target_rpm == 600  # learned from the 429's own headers
    assert stats.rate_limited == 1
    assert stats.paused_s == pytest.approx(1.5)
    assert charger.rate_limited == 1
    await budget.aclose()


async def test_a_token_429_pauses_that_models_tokens_not_the_requests() -> None:
    budget = Budget(1200)
    tokens = TokenBudget(30_000)
    charger = Charger(budget, {}, tokens)
    exc = await raised(
        429, body(TOKENS_429, "tokens", "rate_limit_exceeded"), {"retry-after-ms": "1200"}
    )
    failure = charger.on_failure(exc, model="gpt-4o")
    assert failure.limit == "tokens"
    assert budget.stats().paused_s == 0  # checks go on
    assert budget.stats().rate_limited == 0
    model = tokens.stats().models["gpt-4o"]
    assert model.rate_limited == 1
    assert model.paused_s == pytest.approx(1.2)
    await budget.aclose()
    await tokens.aclose()


def _server(reply: Callable[[httpx2.Request], httpx2.Response]) -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(reply))
    return openai.AsyncOpenAI(api_key="x", base_url="http://test/v1", http_client=http)


async def test_an_exhausted_quota_stops_the_poller_with_one_clear_error() -> None:
    seen: list[str] = []

    def reply(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.path)
        error = body(QUOTA, "insufficient_quota", "insufficient_quota")
        return httpx2.Response(429, json={"error": error})

    async with Poller(_server(reply), rpm=600, clock=LoopClock()) as p:
        with pytest.raises(QuotaExhaustedError, match="out of quota: You exceeded"):
            await p.create_response(model="m", input="x")
        with pytest.raises(QuotaExhaustedError):
            await p.create_response(model="m", input="y")
    assert seen == ["/v1/responses"]  # refused once, never retried


async def test_a_request_priority_is_charged_once() -> None:
    calls = 0

    def reply(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(200, json={"object": "list", "data": []})

    client = _server(reply)
    async with Poller(client, rpm=600, clock=LoopClock()) as p:
        await p.request(lambda: client.files.list(), priority=Priority.CHECK)
        assert p.stats().requests == 1
    assert calls == 1
