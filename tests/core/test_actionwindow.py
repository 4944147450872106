"""The action window: learned from runs caught in requires_action, and the gap it allows."""

from __future__ import annotations

import random

from batchpoll._actionwindow import GAP_SHARE, ActionWindow
from batchpoll._policy import JobTiming, PollSettings, next_check_delay


def test_the_window_is_the_most_left_seen_and_only_grows() -> None:
    w = ActionWindow()
    assert w.max_gap_s() is None
    assert not w.at_risk(1e9)
    w.observe(12.0)
    w.observe(17.5)
    w.observe(3.0)  # caught late: says less about the window
    w.observe(-1.0)  # already expired when seen
    assert w.window_s == 17.5
    assert w.max_gap_s() == GAP_SHARE * 17.5
    assert w.at_risk(GAP_SHARE * 17.5)
    assert not w.at_risk(GAP_SHARE * 17.5 - 0.1)
    assert ActionWindow(600.0).max_gap_s() == GAP_SHARE * 600.0


def test_the_gap_caps_the_schedule_the_fair_spacing_and_a_5xx_backoff() -> None:
    settings = PollSettings()
    uniform = random.Random(1).random
    late = JobTiming(age_s=100.0, checks=3, planned_age_s=160.0, max_gap_s=8.0)
    assert next_check_delay(late, settings, uniform) <= 8.0
    spaced = next_check_delay(late, settings, uniform, fair_spacing_s=20.0)
    assert spaced <= 8.0
    storm = JobTiming(age_s=100.0, checks=3, error_streak=6, max_gap_s=8.0)
    assert next_check_delay(storm, settings, uniform) <= 2.0  # a quarter of the gap
    free = JobTiming(age_s=100.0, checks=3, error_streak=6)
    assert next_check_delay(free, settings, uniform) > 8.0  # no window: the usual backoff
