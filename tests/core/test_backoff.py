"""``backoff_s``: the one backoff, pure, with the randomness injected."""

from __future__ import annotations

import random

import pytest

from batchpoll import PollSettings, backoff_s
from batchpoll._policy import retry_delay


def test_the_fixed_half_doubles_to_the_cap() -> None:
    low = [backoff_s(a, base_s=0.5, max_s=4.0, uniform=lambda: 0.0) for a in range(1, 7)]
    assert low == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    high = backoff_s(3, base_s=0.5, max_s=4.0, uniform=lambda: 1.0)
    assert high == 2.0  # uniform() < 1: the wait stays under the ceiling


@pytest.mark.parametrize("attempt", [1, 2, 5, 12])
def test_the_wait_is_in_the_upper_half_of_its_ceiling(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(30.0, 0.5 * 2.0 ** (attempt - 1))
    waits = [backoff_s(attempt, base_s=0.5, max_s=30.0, uniform=rng.random) for _ in range(200)]
    assert all(ceiling / 2 <= w < ceiling for w in waits)
    assert max(waits) - min(waits) > ceiling / 4  # jittered, not constant


def test_the_pollers_retry_delay_is_this_backoff_on_its_settings() -> None:
    settings = PollSettings(retry_base_s=1.0, retry_max_s=8.0)
    for streak in range(1, 6):
        expected = backoff_s(streak, base_s=1.0, max_s=8.0, uniform=lambda: 0.3)
        assert retry_delay(streak, settings, lambda: 0.3) == expected
