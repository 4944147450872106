from __future__ import annotations

import httpx2
import openai
import pytest

from batchpoll._failures import ErrorCode, FailureKind, Sent, classify, http_code


async def test_a_refused_connection_certainly_sent_nothing() -> None:
    client = openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError) as caught:
        await client.responses.retrieve("resp_1")
    failure = classify(caught.value)
    assert failure.kind is FailureKind.TRANSIENT
    assert failure.sent_nothing


def test_unknown_exceptions_end_only_the_job() -> None:
    failure = classify(RuntimeError("boom"))
    assert failure.kind is FailureKind.JOB
    assert not failure.sent_nothing


# --- 429s and other status errors, raised by the real SDK over httpx2 responses -----------

TOKENS_429 = (
    "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): "
    "Limit 30000, Used 29000, Requested 1600. Please try again in 1.2s."
)
REQUESTS_429 = (
    "Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): "
    "Limit 500, Used 500, Requested 1."
)
TOO_LARGE = (
    "Request too large for gpt-4o in organization org-x on tokens per min (TPM): "
    "Limit 30000, Requested 45000. The input or output tokens must be reduced in order to run "
    "successfully."
)
QUOTA = "You exceeded your current quota, please check your plan and billing details."
RATE_HEADERS = {
    "x-ratelimit-limit-tokens": "30000",
    "x-ratelimit-remaining-tokens": "0",
    "x-ratelimit-reset-tokens": "2s",
    "x-ratelimit-limit-requests": "500",
}


async def raised(status: int, error: object, headers: dict[str, str] | None = None) -> Exception:
    """What the SDK raises for one reply with this status and ``{"error": error}`` body."""

    def reply(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json={"error": error}, headers=headers or {})

    http = httpx2.AsyncClient(transport=httpx2.MockTransport(reply))
    client = openai.AsyncOpenAI(
        api_key="x", base_url="http://test/v1", max_retries=0, http_client=http
    )
    try:
        await client.responses.create(model="gpt-4o", input="hi")
    except openai.APIStatusError as exc:
        return exc
    finally:
        await http.aclose()
    raise AssertionError("no error was raised")


def body(message: str, type_: str | None, code: str | None) -> dict[str, object]:
    return {"message": message, "type": type_, "code": code, "param": None}


@pytest.mark.parametrize(
    "error",
    [
        body(TOKENS_429, "tokens", "rate_limit_exceeded"),
        body(TOKENS_429, None, "rate_limit_exceeded"),  # only the message says so
        body("slow down", None, "tokens_usage_based"),  # only the code says so
    ],
)
async def test_a_token_429_names_its_limit_and_keeps_the_headers(error: dict[str, object]) -> None:
    exc = await raised(429, error, {**RATE_HEADERS, "retry-after-ms": "1200"})
    failure = classify(exc)
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.limit == "tokens"
    assert failure.retry_after_s == pytest.approx(1.2)
    assert failure.sent_nothing
    assert failure.headers is not None
    assert failure.headers["x-ratelimit-remaining-tokens"] == "0"  # for on_headers to learn
    assert failure.error.type == "rate_limited"


async def test_a_request_429_is_a_request_limit() -> None:
    failure = classify(await raised(429, body(REQUESTS_429, "requests", "rate_limit_exceeded")))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.limit == "requests"


async def test_a_429_that_does_not_say_which_limit() -> None:
    failure = classify(await raised(429, body("Too many requests", None, None)))
    assert failure.kind is FailureKind.RATE_LIMITED
    assert failure.limit is None


async def test_request_too_large_ends_the_job_with_the_servers_message() -> None:
    failure = classify(await raised(429, body(TOO_LARGE, "tokens", "rate_limit_exceeded")))
    assert failure.kind is FailureKind.JOB  # never retried
    assert failure.error.type == "request_too_large"
    assert failure.error.message == TOO_LARGE
    assert failure.limit == "tokens"
    assert failure.sent_nothing  # a 429: the request had no effect


async def test_insufficient_quota_stops_everything() -> None:
    failure = classify(await raised(429, body(QUOTA, "insufficient_quota", "insufficient_quota")))
    assert failure.kind is FailureKind.FATAL
    assert failure.error.type == "insufficient_quota"
    assert failure.error.message == QUOTA


@pytest.mark.parametrize(
    ("status", "kind", "type_"),
    [
        (401, FailureKind.FATAL, "authentication"),
        (400, FailureKind.JOB, "http_400"),
        (503, FailureKind.TRANSIENT, "http_503"),
    ],
)
async def test_other_status_errors_keep_their_kind_and_carry_headers(
    status: int, kind: FailureKind, type_: str
) -> None:
    failure = classify(await raised(status, body("nope", None, None), RATE_HEADERS))
    assert (failure.kind, failure.error.type, failure.error.message) == (kind, type_, "nope")
    assert failure.limit is None
    assert failure.headers is not None
    assert failure.headers["x-ratelimit-limit-tokens"] == "30000"


async def test_whether_a_failed_request_can_have_had_an_effect() -> None:
    """``Failure.sent``: the tri-state every create decision reads (docs/journal.md)."""
    refusals = [
        await raised(429, {"message": REQUESTS_429, "type": "requests"}),
        await raised(400, {"message": "bad", "type": "invalid_request_error"}),
        await raised(404, {"message": "no such thing"}),
    ]
    for exc in refusals:
        assert classify(exc).sent is Sent.NOT_SENT, exc
    answered = await raised(500, {"message": "The server had an error", "type": "server_error"})
    assert classify(answered).sent is Sent.SENT
    lost = openai.APITimeoutError(request=httpx2.Request("POST", "http://test/v1/responses"))
    assert classify(lost).sent is Sent.MAYBE_SENT
    assert classify(RuntimeError("boom")).sent is Sent.MAYBE_SENT  # unknown: assume the worst
    assert classify(answered).error.type == http_code(500)
    assert classify(lost).error.type == ErrorCode.TIMEOUT
