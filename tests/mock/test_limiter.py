"""The limiter: sliding 1 s and 60 s windows, exact at the boundaries, never over, not stingy."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from batchpoll.mock._limiter import MINUTE, SECOND, UNLIMITED_RPM, RateLimiter, to_ticks


def limiter(
    rpm: int | None, burst: int | None = None, semantics: str = "bucket", **classes: int
) -> RateLimiter:
    lim = RateLimiter(semantics)  # type: ignore[arg-type]
    lim.configure(rpm, burst, classes, {})
    return lim


def test_burst_is_rpm_over_60_by_default() -> None:
    lim = limiter(1200)
    assert all(lim.try_acquire(10.0, "get").accepted for _ in range(20))
    rejected = lim.try_acquire(10.5, "get")
    assert not rejected.accepted
    assert rejected.wait_s == 0.5  # the oldest of the 20 leaves the window at 11.0
    assert rejected.window == "1s"
    assert rejected.burst == 20
    assert lim.try_acquire(11.0, "get").accepted  # half-open windows: exactly 1 s later is fine


def test_minute_window_binds_when_burst_is_generous() -> None:
    lim = limiter(5, burst=100)
    for i in range(5):
        assert lim.try_acquire(i * 0.1, "get").accepted
    rejected = lim.try_acquire(30.0, "get")
    assert not rejected.accepted
    assert rejected.window == "60s"
    assert abs(rejected.wait_s - 30.0) < 1e-9
    assert lim.try_acquire(60.0, "get").accepted
    assert not lim.try_acquire(60.05, "get").accepted
    assert lim.try_acquire(60.1, "get").accepted


def test_rejections_do_not_consume() -> None:
    lim = limiter(60)  # burst 1
    assert lim.try_acquire(0.0, "get").accepted
    for i in range(1, 100):
        assert not lim.try_acquire(i / 100, "get").accepted
    assert lim.try_acquire(1.0, "get").accepted


def test_class_budgets_apply_on_top_of_the_global_one() -> None:
    lim = limiter(600, create=60)
    assert lim.try_acquire(0.0, "create").accepted
    assert not lim.try_acquire(0.1, "create").accepted  # create: 1 per second
    assert all(lim.try_acquire(0.1, "get").accepted for _ in range(9))  # global burst 10
    assert not lim.try_acquire(0.2, "get").accepted


def test_headers_view_bucket() -> None:
    # A bucket of 1200 refilled at 20 per second: one request is back after 50 ms.
    lim = limiter(1200)
    first = lim.try_acquire(0.0, "get")
    assert (first.limit_rpm, first.remaining, first.reset_s) == (1200, 1199, 0.05)
    assert (lim.peek(0.05, "get").remaining, lim.peek(0.05, "get").reset_s) == (1200, 0.0)
    for _ in range(19):
        lim.try_acquire(1.0, "get")
    burst = lim.peek(1.0, "get")
    assert (burst.remaining, burst.reset_s) == (1181, 0.95)
    # After the burst, remaining recovers at the limit's rate: 20 per second.
    assert [lim.peek(1.0 + k / 20, "get").remaining for k in range(1, 5)] == [
        1182,
        1183,
        1184,
        1185,
    ]
    assert lim.peek(1.95, "get").remaining == 1200


def test_headers_view_window() -> None:
    lim = limiter(1200, semantics="window")
    first = lim.try_acquire(0.0, "get")
    assert (first.limit_rpm, first.remaining) == (1200, 1199)
    assert first.reset_s == 60.0
    later = lim.peek(15.0, "get")
    assert (later.remaining, later.reset_s) == (1199, 45.0)
    assert lim.peek(60.0, "get").remaining == 1200


def test_a_live_change_keeps_what_the_header_bucket_holds() -> None:
    lim = limiter(600)
    for _ in range(10):
        lim.try_acquire(0.0, "get")
    assert lim.peek(0.0, "get").remaining == 590
    lim.configure(60, None, {}, {})  # lower: capped by the new capacity, refilled at 1/s
    assert lim.peek(0.0, "get").remaining == 60
    lim.try_acquire(1.0, "get")
    assert (lim.peek(1.0, "get").remaining, lim.peek(1.0, "get").reset_s) == (59, 1.0)


def test_unlimited_still_reports_headers() -> None:
    decision = limiter(None).try_acquire(0.0, "get")
    assert decision.accepted
    assert decision.limit_rpm == decision.remaining == UNLIMITED_RPM


def test_live_change_keeps_history() -> None:
    lim = limiter(1200)
    for _ in range(10):
        lim.try_acquire(0.0, "get")
    lim.configure(300, None, {}, {})  # burst 5: the 10 already accepted still count
    assert not lim.try_acquire(0.5, "get").accepted
    assert lim.try_acquire(1.0, "get").accepted


@settings(max_examples=300, deadline=None)
@given(
    gaps_ms=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=300),
    rpm=st.integers(min_value=1, max_value=120),
    burst=st.one_of(st.none(), st.integers(min_value=1, max_value=8)),
)
def test_property_never_over_and_never_stingy(
    gaps_ms: list[int], rpm: int, burst: int | None
) -> None:
    lim = limiter(rpm, burst)
    window = limiter(rpm, burst, semantics="window")
    cap_1s = burst if burst is not None else -(-rpm // 60)
    accepted: list[int] = []
    t_ms = 0
    for gap in gaps_ms:
        t_ms += gap
        now = to_ticks(t_ms / 1000)
        in_1s = sum(1 for a in accepted if a > now - SECOND)
        in_60s = sum(1 for a in accepted if a > now - MINUTE)
        decision = lim.try_acquire(t_ms / 1000, "get")
        # The header bucket never runs dry under the windows, and never reports less than
        # the window would: at least rpm minus what the last 60 s accepted.
        assert decision.remaining >= window.try_acquire(t_ms / 1000, "get").remaining
        assert 0 <= decision.remaining <= rpm
        assert 0 <= decision.reset_s <= 60.0
        room = in_1s < cap_1s and in_60s < rpm
        # Accepts exactly when both windows have room: never over, never needlessly rejecting.
        assert decision.accepted == room
        if decision.accepted:
            accepted.append(now)
        else:
            # The advertised wait is exact: room appears then, and not a microsecond earlier.
            wait = to_ticks(decision.wait_s)
            later = now + wait

            def has_room(at: int) -> bool:
                return (
                    sum(1 for a in accepted if a > at - SECOND) < cap_1s
                    and sum(1 for a in accepted if a > at - MINUTE) < rpm
                )

            assert wait > 0
            assert has_room(later)
            assert not has_room(later - 1)
    # Independent check of the promise: no half-open window holds more than its limit.
    for i in range(len(accepted)):
        if i + cap_1s < len(accepted):
            assert accepted[i + cap_1s] - accepted[i] >= SECOND
        if i + rpm < len(accepted):
            assert accepted[i + rpm] - accepted[i] >= MINUTE
    if gaps_ms:
        assert accepted, "the first request always fits"
