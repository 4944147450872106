"""The leaky bucket with plain numbers: burst, spacing, rate changes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchpoll._leaky import LeakyBucket


def test_burst_then_spacing() -> None:
    bucket = LeakyBucket(2, 10.0)  # 2 back to back, then one per 0.1 s
    assert bucket.try_take(0.0)
    assert bucket.try_take(0.0)
    assert not bucket.try_take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.1)
    assert not bucket.try_take(0.05)
    assert bucket.try_take(0.1)
    assert bucket.wait_s(0.1) == pytest.approx(0.1)


def test_rate_change_keeps_the_level() -> None:
    """A slower rate does not empty the bucket: the grant just made still counts."""
    bucket = LeakyBucket(1, 10.0)
    assert bucket.try_take(0.0)
    bucket.set_rate(1.0, 0.05)  # half drained at the old rate
    assert bucket.wait_s(0.05) == pytest.approx(0.5)
    assert not bucket.try_take(0.5)
    assert bucket.try_take(0.55)


@given(
    st.lists(st.floats(min_value=0.0, max_value=0.3), min_size=1, max_size=200),
    st.integers(min_value=1, max_value=5),
    st.floats(min_value=1.0, max_value=100.0),
)
def test_no_interval_holds_more_than_capacity_plus_rate(
    gaps: list[float], capacity: int, rate: float
) -> None:
    """Greedy takers at arbitrary moments: any interval of length T holds at most
    capacity + T × rate grants."""
    bucket = LeakyBucket(capacity, rate)
    now, grants = 0.0, []
    for gap in gaps:
        now += gap
        while bucket.try_take(now):
            grants.append(now)
    for i, start in enumerate(grants):
        for j in range(i, len(grants)):
            span = grants[j] - start
            assert j - i + 1 <= capacity + span * rate + 1e-6
