"""Tokens per minute: the cost estimator, the per-model bucket, OpenAI's 429s and headers."""

from __future__ import annotations

import asyncio
import json
import re

import openai
import pytest

from batchpoll.mock import MockConfig, estimate_request_tokens
from batchpoll.mock._tokens import TokenLimiter

from .conftest import MockFactory

# --- the estimator ---------------------------------------------------------------------------


def test_cost_is_characters_over_four_plus_max_output_tokens() -> None:
    assert estimate_request_tokens({"input": "x" * 8}) == 2
    assert estimate_request_tokens({"input": "x" * 9}) == 3  # rounded up
    assert estimate_request_tokens({"input": "abcd", "max_output_tokens": 100}) == 101
    tools = [{"type": "function", "name": "lookup"}]
    tools_chars = len(json.dumps(tools, separators=(",", ":")))
    body = {
        "input": [
            {"role": "user", "content": "abcd"},  # 4
            {"role": "user", "content": [{"type": "input_text", "text": "efgh"}]},  # 4
            {"type": "function_call_output", "call_id": "c", "output": "ijklmnop"},  # 8
            {"type": "function_call", "call_id": "c", "name": "n", "arguments": "{}"},  # 0
        ],
        "instructions": "be brief",  # 8
        "tools": tools,
    }
    assert estimate_request_tokens(body) == -(-(24 + tools_chars) // 4)
    assert estimate_request_tokens({"model": "m"}) == 0


# --- the bucket ------------------------------------------------------------------------------


def test_bucket_starts_full_refills_continuously_and_rejections_consume_nothing() -> None:
    tokens = TokenLimiter()
    assert tokens.peek(0.0, "m", 600).remaining == 600  # full: reset 0s
    assert tokens.consume(0.0, "m", 500, 600).remaining == 100
    rejected = tokens.check(0.0, "m", 300, 600)
    assert not rejected.accepted
    assert not rejected.too_large
    assert (rejected.used, rejected.requested) == (500, 300)
    assert rejected.wait_s == 20.0  # 200 missing at 10 tokens/s
    for _ in range(50):  # rejected requests take nothing
        assert not tokens.check(1.0, "m", 300, 600).accepted
    assert not tokens.check(19.999999, "m", 300, 600).accepted
    assert tokens.check(20.0, "m", 300, 600).accepted
    view = tokens.peek(20.0, "m", 600)
    assert (view.remaining, view.reset_s) == (300, 30.0)
    assert tokens.peek(0.0, "other", 600).remaining == 600  # per model
    too_large = tokens.check(20.0, "m", 601, 600)
    assert too_large.too_large
    assert tokens.check(0.0, "m", 10**9, None).accepted  # no limit


def test_a_live_limit_change_keeps_what_the_bucket_holds() -> None:
    tokens = TokenLimiter()
    tokens.consume(0.0, "m", 500, 600)
    assert tokens.peek(0.0, "m", 300).remaining == 100
    assert tokens.peek(0.0, "m", 50).remaining == 50  # capped by the new capacity


# --- over HTTP, with the SDK -----------------------------------------------------------------

pytestmark = pytest.mark.looptime

PROMPT = "x" * 400  # 100 tokens


async def test_a_burst_over_the_bucket_gets_openais_token_429(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(tpm=600, fail_rate=0.0))  # 10 tokens per second
    responses = mock.client.responses
    for _ in range(6):
        await responses.create(model="gpt-4o-mini", input=PROMPT, background=True)
    with pytest.raises(openai.RateLimitError) as info:
        await responses.create(model="gpt-4o-mini", input=PROMPT, background=True)
    error = info.value
    assert error.body is not None
    assert (error.body["type"], error.body["code"]) == ("tokens", "rate_limit_exceeded")  # type: ignore[index]
    assert error.body["message"] == (  # type: ignore[index]
        "Rate limit reached for gpt-4o-mini in organization org-mock on tokens per min (TPM): "
        "Limit 600, Used 600, Requested 100. Please try again in 10s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    headers = error.response.headers
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("10000", "10")
    assert headers["x-ratelimit-limit-tokens"] == "600"
    assert headers["x-ratelimit-remaining-tokens"] == "0"
    assert headers["x-ratelimit-reset-tokens"] == "1m0s"
    await asyncio.sleep(9.9)
    with pytest.raises(openai.RateLimitError, match=r"try again in 100ms"):
        await responses.create(model="gpt-4o-mini", input=PROMPT, background=True)
    await asyncio.sleep(0.1)
    await responses.create(model="gpt-4o-mini", input=PROMPT, background=True)
    stats = await mock.stats()
    assert (stats["rate_limited_tokens"], stats["rate_limited_requests"]) == (2, 0)
    assert stats["rate_limited"] == 2
    assert stats["tokens_charged"] == 700
    assert stats["tokens_by_model"] == {"gpt-4o-mini": 700}
    assert stats["max_tokens_60s"] == 700
    assert stats["creates_total"] == 7  # the rejected ones created nothing
    assert stats["tpm"] == 600


async def test_headers_on_every_reply_and_gets_cost_nothing(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(tpm=60_000, rpm=1200))
    reply = await mock.http.post(
        "/v1/responses", json={"model": "m", "input": PROMPT, "max_output_tokens": 400}
    )
    assert reply.status_code == 200
    assert reply.headers["x-ratelimit-limit-tokens"] == "60000"
    assert reply.headers["x-ratelimit-remaining-tokens"] == "59500"
    assert reply.headers["x-ratelimit-reset-tokens"] == "500ms"  # 500 tokens at 1000/s
    assert reply.headers["x-ratelimit-remaining-requests"] == "1199"
    response_id = reply.json()["id"]
    await asyncio.sleep(0.1)
    got = await mock.http.get(f"/v1/responses/{response_id}")
    assert got.headers["x-ratelimit-remaining-tokens"] == "59600"  # refilled, not charged
    assert got.headers["x-ratelimit-reset-tokens"] == "400ms"
    assert re.fullmatch(r"(\d+m)?\d+(\.\d+)?(ms|s)", got.headers["x-ratelimit-reset-requests"])
    other = await mock.http.get("/v1/responses/resp_unknown")  # 404s carry them too
    assert other.headers["x-ratelimit-limit-tokens"] == "60000"
    unlimited = make_mock()
    plain = await unlimited.http.get("/v1/responses/r")
    assert (
        plain.headers["x-ratelimit-limit-tokens"] == plain.headers["x-ratelimit-remaining-tokens"]
    )


async def test_request_too_large(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(tpm=1000))
    with pytest.raises(openai.RateLimitError) as info:
        await mock.client.responses.create(model="gpt-4o", input="y" * 4004, background=True)
    assert info.value.body is not None
    assert info.value.body["type"] == "tokens"  # type: ignore[index]
    assert info.value.body["message"] == (  # type: ignore[index]
        "Request too large for gpt-4o in organization org-mock on tokens per min (TPM): "
        "Limit 1000, Requested 1001. The input or output tokens must be reduced in order to run "
        "successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    assert "retry-after-ms" not in info.value.response.headers  # waiting cannot help
    assert info.value.response.headers["x-ratelimit-remaining-tokens"] == "1000"
    stats = await mock.stats()
    assert (stats["requests_too_large"], stats["rate_limited_tokens"]) == (1, 0)
    assert stats["tokens_charged"] == 0


async def test_limits_are_per_model_with_overrides(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(tpm=100, model_tpm={"big": 10_000}))
    responses = mock.client.responses
    await responses.create(model="a", input=PROMPT)
    await responses.create(model="b", input=PROMPT)  # its own bucket
    with pytest.raises(openai.RateLimitError, match="for a in organization"):
        await responses.create(model="a", input=PROMPT)
    for _ in range(5):
        await responses.create(model="big", input=PROMPT)
    live = await mock.http.post("/_mock/config", json={"tpm": None, "model_tpm": {}})
    assert live.status_code == 200
    await responses.create(model="a", input=PROMPT)
    assert (await mock.stats())["tokens_by_model"] == {"a": 200, "b": 100, "big": 500}


async def test_token_rejections_consume_no_request_budget(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(tpm=100, rpm=120))  # 2 requests per second
    responses = mock.client.responses
    await responses.create(model="m", input="x" * 360)  # 90 tokens
    with pytest.raises(openai.RateLimitError, match="tokens per min"):
        await responses.create(model="m", input=PROMPT)
    await responses.create(model="m", input="short")  # the second request slot is still free
    with pytest.raises(openai.RateLimitError) as info:
        await responses.create(model="m", input="short")
    assert info.value.body is not None
    assert info.value.body["type"] == "requests"  # type: ignore[index]
    assert info.value.body["message"].startswith(  # type: ignore[index]
        "Rate limit reached for m in organization org-mock on requests per min (RPM): "
        "Limit 120, Used 2, Requested 1. Please try again in 1s."
    )
    stats = await mock.stats()
    assert (stats["rate_limited_tokens"], stats["rate_limited_requests"]) == (1, 1)
    assert stats["requests_accepted"] == 2


async def test_continuations_cost_tokens_too(make_mock: MockFactory) -> None:
    mock = make_mock(
        MockConfig(
            tpm=10_000,
            fail_rate=0.0,
            tool_rate=1.0,
            duration_sigma=0.0,
            parallel_calls_rate=0.0,
        )
    )
    tool = {"type": "function", "name": "lookup"}
    created = await mock.client.responses.create(
        model="m",
        input="q",
        background=True,
        tools=[tool],  # type: ignore[list-item]
    )
    await asyncio.sleep(30)
    asked = await mock.client.responses.retrieve(created.id)
    (call,) = [item for item in asked.output if item.type == "function_call"]
    body = {
        "model": "m",
        "background": True,
        "previous_response_id": asked.id,
        "tools": [tool],
        "input": [{"type": "function_call_output", "call_id": call.call_id, "output": "r" * 40}],
    }
    await mock.client.responses.create(**body)  # type: ignore[call-overload]
    first = estimate_request_tokens({"input": "q", "tools": [tool]})
    assert (await mock.stats())["tokens_charged"] == first + estimate_request_tokens(body)
