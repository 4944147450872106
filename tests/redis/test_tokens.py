"""RedisBudget(tpm=): tokens per minute per model shared through Redis (budgets on one name
stand for processes). Real Redis; the only real waits are short ones on Redis's clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio

from batchpoll import Poller, RequestTooLargeError, Status, TokenSettings
from batchpoll._redistokens import RedisTokens
from batchpoll.mock import MockConfig, asgi_client, create_app
from tests.redis.conftest import PREFIX
from tests.redis.test_budget import budget

# initial_s=60: a new window starts with the whole minute free (the birth ramp has its test)
TPM = TokenSettings(1000, initial_s=60)


def tokens(b: Any) -> RedisTokens:
    assert isinstance(b.tokens, RedisTokens)
    return b.tokens


async def test_two_processes_share_one_token_window_and_a_refund_frees_it(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name, tpm=TPM), budget(redis_url, name, tpm=TPM)
    first = await tokens(a).reserve("gpt-test", 600)
    waiting = asyncio.create_task(tokens(b).reserve("gpt-test", 500))
    await asyncio.sleep(0.2)
    assert not waiting.done()  # 600 + 500 > 1000 within the minute, across the processes
    assert tokens(b).waiting("gpt-test") == 1
    other = await tokens(b).reserve("other-model", 900)  # per model: another fits at once
    first.refund()  # never counted: its tokens go back, for everyone
    second = await asyncio.wait_for(waiting, 2.0)
    assert second.tokens == 500
    second.settle(480)
    other.settle()
    assert tokens(b).stats().spent == 480
    assert tokens(a).stats().reserved == 0
    assert tokens(b).stats().reserved == 1400
    await a.aclose()
    await b.aclose()


async def test_more_than_the_limit_is_refused_at_once_also_a_limit_another_learned(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name, tpm=TPM), budget(redis_url, name, tpm=TPM)
    with pytest.raises(RequestTooLargeError):
        await tokens(a).reserve("gpt-test", 1001)
    tokens(a).on_headers("gpt-test", {"x-ratelimit-limit-tokens": "400"})
    await asyncio.sleep(0.1)  # the learned limit reaches Redis (one script run)
    with pytest.raises(RequestTooLargeError):  # b learns it from its first script run
        await asyncio.wait_for(tokens(b).reserve("gpt-test", 500), 2.0)
    (await tokens(b).reserve("gpt-test", 400)).settle()
    await a.aclose()
    await b.aclose()


async def test_a_token_429_in_one_process_pauses_the_model_in_the_others(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name, tpm=TPM), budget(redis_url, name, tpm=TPM)
    (await tokens(b).reserve("gpt-test", 10)).settle()
    tokens(a).on_rate_limited("gpt-test", 0.5)
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (await asyncio.wait_for(tokens(b).reserve("gpt-test", 10), 3.0)).settle()
    assert loop.time() - t0 >= 0.3
    await a.aclose()
    await b.aclose()


async def test_a_new_window_starts_as_a_local_token_budget_does(redis_url: str, name: str) -> None:
    # 6,000 tpm: 100 a second come back; 2 s worth (200) are free at birth, not the minute
    b = budget(redis_url, name, tpm=TokenSettings(6000, initial_s=2))
    (await tokens(b).reserve("gpt-test", 200)).settle()
    late = asyncio.create_task(tokens(b).reserve("gpt-test", 150))
    await asyncio.sleep(0.3)
    assert not late.done()
    (await asyncio.wait_for(late, 3.0)).settle()
    await b.aclose()


async def test_a_poller_charges_its_creates_to_the_shared_tokens_and_keys_expire(
    redis_url: str, name: str
) -> None:
    app = create_app(MockConfig(rpm=600, duration_median_s=0.2, fail_rate=0, seed=3))
    client = asgi_client(app, api_key="sk-test")
    shared = budget(redis_url, name, tpm=TokenSettings(100_000, initial_s=60))
    async with Poller(client, budget=shared, seed=1) as p:
        jobs = [await p.create_response(model="gpt-test", input=f"q{i}") for i in range(3)]
        outcomes = [await j for j in jobs]
    assert [o.status for o in outcomes] == [Status.COMPLETED] * 3
    assert tokens(shared).stats().reserved > 0
    assert tokens(shared).round_trips >= 3
    r = redis.asyncio.Redis.from_url(redis_url)
    keys = [k async for k in r.scan_iter(f"{PREFIX}:{{{name}}}:tok:*")]
    assert len(keys) == 2
    for key in keys:
        assert 0 < await r.pttl(key) <= 86_400_000
    await r.aclose()
    await shared.aclose()
