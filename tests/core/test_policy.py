from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchpoll import ConfigurationError, PollSettings
from batchpoll._policy import JobTiming, next_check_delay

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
