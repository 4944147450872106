from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchpoll import ConfigurationError, PollSettings
from batchpoll._policy import (
    JobTiming,
    next_check_delay,
    parse_go_duration,
    parse_rate_limit_headers,
    parse_retry_after,
    poll_after_hint_s,
)

NO_JITTER = PollSettings(jitter=0.0)


def half() -> float:
    return 0.5


def test_first_check_waits_from_creation() -> None:
    first = NO_JITTER.first_check_s
    assert next_check_delay(JobTiming(age_s=0.0, checks=0), NO_JITTER, half) == first
    assert next_check_delay(JobTiming(age_s=2.0, checks=0), NO_JITTER, half) == first - 2.0
    resumed = JobTiming(age_s=0.0, checks=0, resumed=True)
    assert next_check_delay(resumed, NO_JITTER, half) == NO_JITTER.after_submit_s


def test_interval_grows_with_age_and_is_clamped() -> None:
    assert next_check_delay(JobTiming(age_s=10.0, checks=1), NO_JITTER, half) == pytest.approx(3.0)
    assert next_check_delay(JobTiming(age_s=0.1, checks=3), NO_JITTER, half) == 0.25
    assert next_check_delay(JobTiming(age_s=1e5, checks=9), NO_JITTER, half) == 30.0


def test_server_hint_fair_share_deadline_and_expiry() -> None:
    t = JobTiming(age_s=10.0, checks=1, poll_after_s=7.0)
    assert next_check_delay(t, NO_JITTER, half) == 7.0
    ignoring = PollSettings(jitter=0.0, honor_poll_after=False)
    assert next_check_delay(t, ignoring, half) == pytest.approx(3.0)
    t = JobTiming(age_s=10.0, checks=1)
    assert next_check_delay(t, NO_JITTER, half, fair_spacing_s=12.0) == 12.0
    t = JobTiming(age_s=10.0, checks=1, to_deadline_s=1.5)
    assert next_check_delay(t, NO_JITTER, half) == 1.5
    t = JobTiming(age_s=10.0, checks=1, to_expiry_s=0.5)
    assert next_check_delay(t, NO_JITTER, half) == 1.5  # expiry + 1 s grace


def test_transient_errors_back_off_exponentially_and_obey_retry_after() -> None:
    delays = [
        next_check_delay(JobTiming(age_s=3.0, checks=1, error_streak=n), NO_JITTER, half)
        for n in range(1, 9)
    ]
    assert delays[0] == pytest.approx(0.375)
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert max(delays) <= NO_JITTER.retry_max_s
    t = JobTiming(age_s=3.0, checks=1, error_streak=1, retry_after_s=4.0)
    assert next_check_delay(t, NO_JITTER, half) == 4.0


@given(
    age=st.floats(0, 1e6),
    checks=st.integers(0, 100),
    streak=st.integers(0, 50),
    hint=st.none() | st.floats(0, 100),
    deadline=st.none() | st.floats(-10, 1e5),
    seed=st.integers(0, 2**32),
)
def test_delay_is_bounded_and_never_negative(
    age: float, checks: int, streak: int, hint: float | None, deadline: float | None, seed: int
) -> None:
    settings = PollSettings()
    t = JobTiming(age, checks, error_streak=streak, poll_after_s=hint, to_deadline_s=deadline)
    delay = next_check_delay(t, settings, random.Random(seed).random)
    assert delay >= 0.0
    cap = max(settings.first_check_s, settings.max_interval_s, settings.retry_max_s, hint or 0.0)
    assert delay <= cap * (1 + settings.jitter) + 1e-9
    if deadline is not None:
        assert delay <= max(0.0, deadline)


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ConfigurationError):
        PollSettings(min_interval_s=5, max_interval_s=1)
    with pytest.raises(ConfigurationError):
        PollSettings(jitter=1.5)


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
