"""Auth, rate limits and injected faults, each mapped to the SDK exception users will see."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

from batchpoll.mock import FaultWindow, MockConfig

from .conftest import MockFactory

pytestmark = [
    pytest.mark.looptime,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
)


async def test_wrong_key_is_401_and_never_echoed(make_mock: MockFactory) -> None:
    secret = "sk-live-0123456789abcdef"
    mock = make_mock(MockConfig(api_key="sk-right"), api_key=secret)
    with pytest.raises(openai.AuthenticationError) as info:
        await mock.client.responses.create(model="m", input="x")
    assert info.value.code == "invalid_api_key"
    raw = await mock.http.post("/v1/responses", json={"model": "m", "input": "x"})
    assert raw.status_code == 401
    assert not [name for name in raw.headers if name.startswith("x-ratelimit")]  # as OpenAI
    for fragment in (secret, secret[-4:], secret[:8], "sk-right", "ight"):
        assert fragment not in raw.text
    assert (await mock.stats())["unauthorized"] == 2


@pytest.mark.parametrize("authorization", [None, "Bearer ", "Basic dXNlcjpwYXNz"])
async def test_a_missing_key_gets_openais_own_message(
    make_mock: MockFactory, authorization: str | None
) -> None:
    mock = make_mock(MockConfig(api_key="sk-right"))
    headers = {} if authorization is None else {"authorization": authorization}
    mock.http.headers.pop("authorization")
    raw = await mock.http.post("/v1/responses", json={"model": "m", "input": "x"}, headers=headers)
    assert raw.status_code == 401
    assert raw.json() == {
        "error": {
            "message": (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), "
                "or as the password field (with blank username) if you're accessing the API "
                "from your browser and are prompted for a username and password. You can "
                "obtain an API key from https://platform.openai.com/account/api-keys."
            ),
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    assert not [name for name in raw.headers if name.startswith("x-ratelimit")]
    assert "x-request-id" in raw.headers


async def test_right_key_and_any_key_when_unset(make_mock: MockFactory) -> None:
    assert (
        await make_mock(MockConfig(api_key="k1"), api_key="k1").client.responses.create(
            model="m", input="x"
        )
    ).status == "completed"
    assert (
        await make_mock(api_key="whatever").client.responses.create(model="m", input="x")
    ).status == "completed"


@pytest.mark.parametrize(
    ("semantics", "remaining", "reset"),
    [("bucket", "118", "750ms"), ("window", "118", "59.75s")],
)
async def test_429_body_and_headers(
    make_mock: MockFactory, semantics: str, remaining: str, reset: str
) -> None:
    # burst 2 per second; the bucket holds 118.5 at 0.25 s (2 per second come back)
    mock = make_mock(MockConfig(rpm=120, header_semantics=semantics))  # type: ignore[arg-type]
    for _ in range(2):
        assert (await mock.http.get("/v1/responses/resp_x")).status_code == 404
    await asyncio.sleep(0.25)
    limited = await mock.http.get("/v1/responses/resp_x")
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["type"] == "requests"
    assert error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert "Please try again in 750ms." in error["message"]
    assert limited.headers["retry-after-ms"] == "750"
    assert limited.headers["retry-after"] == "1"
    assert limited.headers["x-ratelimit-limit-requests"] == "120"
    assert limited.headers["x-ratelimit-remaining-requests"] == remaining
    assert limited.headers["x-ratelimit-reset-requests"] == reset
    with pytest.raises(openai.RateLimitError):
        await mock.client.responses.retrieve("resp_x")
    stats = await mock.stats()
    assert stats["rate_limited"] == 2
    assert stats["max_accepted_1s"] == 2


async def test_sdk_retries_obey_retry_after_ms(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=60), max_retries=2)  # one request per second
    loop = asyncio.get_running_loop()
    first = await mock.client.responses.create(model="m", input="a")
    t0 = loop.time()
    second = await mock.client.responses.create(model="m", input="b")
    assert first.status == second.status == "completed"
    assert loop.time() - t0 == pytest.approx(1.0, abs=0.01)  # waited exactly the hint
    assert (await mock.stats())["rate_limited"] == 1


async def test_every_v1_reply_carries_rate_headers(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=600, error_rate=1.0))
    for reply in (
        await mock.http.get("/v1/threads/thread_x"),  # 500/502/503 fault
        await mock.http.post("/v1/nope", json={}),
    ):
        assert all(name in reply.headers for name in RATE_HEADERS), reply.headers
        assert reply.headers["x-ratelimit-limit-requests"] == "600"


async def test_server_errors(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(error_rate=1.0, seed=5))
    statuses = set()
    for _ in range(30):
        with pytest.raises(openai.InternalServerError) as info:
            await mock.client.responses.create(model="m", input="x")
        statuses.add(info.value.status_code)
        assert info.value.type == "server_error"
    assert statuses == {500, 502, 503}
    stats = await mock.stats()
    assert stats["creates_total"] == 0  # a 5xx never reached the handler
    assert sum(stats["faults"].values()) == 30


async def test_disconnect_after_processing_duplicates_a_retried_create(
    make_mock: MockFactory,
) -> None:
    # Only the first second drops creates: the SDK's retry lands after it and succeeds.
    window = FaultWindow(0.0, 0.3, "disconnect", 1.0, "create")
    mock = make_mock(MockConfig(fault_windows=[window]), max_retries=2)
    response = await mock.client.responses.create(
        model="m", input="x", metadata={"batchpoll_item": "42"}
    )
    assert response.status == "completed"
    assert mock.state.creates_by_metadata() == {"42": 2}
    stats = await mock.stats()
    assert stats["duplicate_creates"]["extra_creates"] == 1
    assert stats["requests_by_route"]["POST /v1/responses"] == {"200": 1, "disconnect": 1}


async def test_disconnect_is_a_connection_error(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(disconnect_rate=1.0, disconnect_after_processing=False))
    with pytest.raises(openai.APIConnectionError):
        await mock.client.responses.create(model="m", input="x")
    assert (await mock.stats())["creates_total"] == 0


async def test_slow_reply_times_out(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(slow_rate=1.0, slow_ms=30_000), timeout=5.0)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(openai.APITimeoutError):
        await mock.client.responses.create(model="m", input="x")
    assert loop.time() - t0 == pytest.approx(5.0, abs=0.01)


async def test_latency_delays_replies(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(latency_ms=250, latency_jitter_ms=100))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await mock.client.responses.create(model="m", input="x")
    assert 0.25 <= loop.time() - t0 <= 0.35


async def test_malformed_body_raises_json_decode_error(make_mock: MockFactory) -> None:
    # What the SDK really does: the JSON error escapes unwrapped and is not retried.
    mock = make_mock(MockConfig(malformed_rate=1.0), max_retries=2)
    with pytest.raises(json.JSONDecodeError):
        await mock.client.responses.create(model="m", input="x")
    assert (await mock.stats())["requests_total"] == 1


async def test_fault_windows_are_bounded_in_time(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fault_windows=[FaultWindow(5.0, 10.0, "error")]))
    assert (await mock.http.get("/v1/responses/r")).status_code == 404  # t = 0: starts clock
    await asyncio.sleep(5)
    assert (await mock.http.get("/v1/responses/r")).status_code >= 500
    await asyncio.sleep(5)
    assert (await mock.http.get("/v1/responses/r")).status_code == 404


async def test_rate_schedule_lowers_the_limit_mid_run(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(rpm=600, rate_schedule=[(10.0, 60)]))

    async def burst() -> int:
        replies = [await mock.http.get("/v1/responses/r") for _ in range(15)]
        return sum(r.status_code != 429 for r in replies)

    assert await burst() == 10
    await asyncio.sleep(10)
    assert await burst() == 1
    assert (await mock.stats())["rpm"] == 60


async def test_invalid_json_is_400(make_mock: MockFactory) -> None:
    mock = make_mock()
    reply = await mock.http.post("/v1/threads", content=b"{not json")
    assert reply.status_code == 400
    assert reply.json()["error"]["type"] == "invalid_request_error"
