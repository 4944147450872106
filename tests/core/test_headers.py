from __future__ import annotations

import pytest

from batchpoll._headers import (
    RateLimitInfo,
    parse_go_duration,
    parse_rate_limit_headers,
    parse_retry_after,
    poll_after_hint_s,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("4m12.172s", 252.172),
        ("1h2m", 3720.0),
        ("0", 0.0),
        ("250us", 0.00025),
        ("", None),
        ("abc", None),
        ("5x", None),
        ("1s junk", None),
    ],
)
def test_go_durations(text: str, seconds: float | None) -> None:
    result = parse_go_duration(text)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


def test_headers() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert poll_after_hint_s({"openai-poll-after-ms": "1500"}) == 1.5
    assert poll_after_hint_s({}) is None
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "600",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "100ms",
        }
    )
    assert info is not None
    assert (info.limit_requests, info.remaining_requests) == (600, 0)
    assert info.reset_requests_s == pytest.approx(0.1)
    assert parse_rate_limit_headers({}) is None


def test_the_token_trio_is_read_with_go_durations() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29350",
            "x-ratelimit-reset-tokens": "1.3s",
        }
    )
    assert info is not None
    assert (info.limit_tokens, info.remaining_tokens) == (30000, 29350)
    assert info.reset_tokens_s == pytest.approx(1.3)
    assert info.has_tokens
    assert (info.limit_requests, info.remaining_requests, info.reset_requests_s) == (None,) * 3


def test_all_six_together() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-tokens": "4m12.172s",
        }
    )
    assert info == RateLimitInfo(500, 499, pytest.approx(0.12), 150000, 0, pytest.approx(252.172))


@pytest.mark.parametrize("odd", ["-1", "abc", "", "1.5", "nan"])
def test_odd_counters_are_absent(odd: str) -> None:
    headers = {
        "x-ratelimit-limit-tokens": odd,
        "x-ratelimit-remaining-tokens": odd,
        "x-ratelimit-reset-tokens": odd,
        "x-ratelimit-limit-requests": odd,
        "x-ratelimit-remaining-requests": odd,
    }
    assert parse_rate_limit_headers(headers) is None
    # ... and one good value next to them is still read
    info = parse_rate_limit_headers({**headers, "x-ratelimit-remaining-tokens": "7"})
    assert info is not None
    assert info.remaining_tokens == 7
    assert info.limit_tokens is None
    assert info.limit_requests is None


def test_a_zero_limit_is_absent_but_zero_remaining_is_information() -> None:
    info = parse_rate_limit_headers(
        {"x-ratelimit-limit-tokens": "0", "x-ratelimit-remaining-tokens": "0"}
    )
    assert info is not None
    assert info.limit_tokens is None
    assert info.remaining_tokens == 0


def test_headers_without_any_counter() -> None:
    info = parse_rate_limit_headers({"content-type": "application/json"})
    assert info is None
    assert not RateLimitInfo(None, None, None).has_tokens
