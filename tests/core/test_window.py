"""``_window.ArrivalWindow``: whatever the delays, no 1 s window at the server holds more than
``cap`` of the requests it granted (property test over random delays, plain numbers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchpoll._window import ArrivalWindow

MAX_DELAY_S = 0.5


@settings(max_examples=200, deadline=None)
@given(
    cap=st.integers(1, 6),
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 0.4),  # time to the next attempt to grant
            st.floats(0.0, 1.0),  # where between grant and its bound the server counts it
            st.floats(0.0, 2.0),  # how long after the grant its reply comes (or never: > 1.5)
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_no_server_second_counts_more_than_the_cap(
    cap: int, steps: list[tuple[float, float, float]]
) -> None:
    now = [0.0]
    window = ArrivalWindow(cap, MAX_DELAY_S, clock=lambda: now[0])
    pending: list[tuple[float, object]] = []  # (release time, ticket)
    arrivals: list[float] = []
    for gap, where, reply_after in steps:
        now[0] += gap
        # Replies that came by now, in time order (the clock only moves forward).
        pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] <= now[0]:
            at, ticket = pending.pop(0)
            saved, now[0] = now[0], at
            ticket.release()  # type: ignore[attr-defined]
            now[0] = saved
        if window.wait_s(now[0]) > 0:
            assert not window.has_room(now[0])
            continue
        assert window.has_room(now[0])
        ticket = window.grant(now[0])
        # The server counts it before its reply and no later than max_delay after the grant.
        bound = min(reply_after, MAX_DELAY_S)
        arrivals.append(now[0] + where * bound)
        if reply_after <= 1.5:
            pending.append((now[0] + reply_after, ticket))
    arrivals.sort()
    for i, start in enumerate(arrivals):
        inside = [a for a in arrivals[i:] if a < start + 1.0]
        assert len(inside) <= cap, (cap, arrivals)


def test_a_late_reply_keeps_its_place_no_shorter_than_its_bound() -> None:
    now = [0.0]
    window = ArrivalWindow(2, MAX_DELAY_S, clock=lambda: now[0])
    early = window.grant(0.0)
    late = window.grant(0.1)
    now[0] = 0.9
    late.release()  # in by 0.6 at the latest: counts until 1.6
    now[0] = 1.0
    early.release()  # its bound, 0.5, is earlier than the last kept: kept as 0.6
    assert window.occupied(1.05) == 2
    assert window.wait_s(1.05) == pytest.approx(0.55)
    assert window.occupied(1.6) == 0
