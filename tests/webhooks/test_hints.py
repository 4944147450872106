"""Pure parts: the pending-hint map and the policy's safety interval."""

from __future__ import annotations

import random

import pytest

from batchpoll import ConfigurationError, PollSettings, WebhookSettings
from batchpoll._hints import PendingHints
from batchpoll._policy import JobTiming, next_check_delay


def test_pending_hints_match_once_expire_and_stay_bounded() -> None:
    hints = PendingHints(ttl_s=10.0, limit=2)
    hints.add("a", 0.0)
    assert hints.take("a", 5.0)
    assert not hints.take("a", 5.0)  # once
    hints.add("b", 0.0)
    assert not hints.take("b", 10.5)  # expired
    hints.add("c", 20.0)
    hints.add("d", 21.0)
    hints.add("e", 22.0)  # over the limit: the oldest goes
    assert len(hints) == 2
    assert not hints.take("c", 22.0)
    assert hints.take("e", 22.0)
    assert hints.dropped == 2


def test_safety_interval_replaces_the_schedule() -> None:
    settings = PollSettings(jitter=0.0)
    uniform = random.Random(1).random
    first = JobTiming(age_s=2.0, checks=0, planned_age_s=5.0, safety_interval_s=60.0)
    assert next_check_delay(first, settings, uniform) == 58.0  # from creation
    later = JobTiming(age_s=70.0, checks=1, safety_interval_s=60.0)
    assert next_check_delay(later, settings, uniform) == 60.0
    deadline = JobTiming(age_s=70.0, checks=1, safety_interval_s=60.0, to_deadline_s=5.0)
    assert next_check_delay(deadline, settings, uniform) == 5.0
    failing = JobTiming(age_s=70.0, checks=1, error_streak=1, safety_interval_s=60.0)
    assert next_check_delay(failing, settings, uniform) <= settings.retry_base_s


def test_settings_are_validated() -> None:
    for bad in ({"safety_interval_s": 0}, {"pending_ttl_s": -1}, {"max_pending": -1}):
        with pytest.raises(ConfigurationError):
            WebhookSettings(**bad)  # type: ignore[arg-type]
