"""``duration_hint_s``: the user's word on how long a job takes is its class's prior."""

from __future__ import annotations

import statistics

import pytest

from batchpoll import ConfigurationError, Poller, PollSettings, testing
from batchpoll._classes import class_of, hint_prior_s


def test_hints_class_jobs_by_powers_of_two() -> None:
    assert class_of("responses", {"model": "m"}, 60.0) == "responses:m#h6"
    assert class_of("responses", {"model": "m"}, 50.0) == "responses:m#h6"
    assert class_of("responses", {"model": "m"}) == "responses:m"
    assert hint_prior_s("responses:m#h6") == 64.0
    assert hint_prior_s("responses:m#h6|resumed") is None  # the hint was for the whole job
    assert hint_prior_s("responses:m#s2") is None


def _run(hint: float | None) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        _, client = testing.mock_client(
            duration_median_s=60, duration_sigma=0.2, fail_rate=0.0, tool_rate=0.0, seed=4
        )
        # The hint's own effect, on the plans of the lag weight alone: with the lag ceiling
        # (the default) the hinted run also trades checks for lag (5.28 checks at 2.89 s of
        # mean lag, against 4.73 at 3.16 s without it; the cold run: 4.95 at 5.82 s).
        poll = PollSettings(lag_ceiling=None)
        async with Poller(client, rpm=6000, clock=testing.clock(), seed=1, poll=poll) as p:
            jobs = [
                await p.create_response(model="m", input=f"q{i}", duration_hint_s=hint)
                for i in range(60)
            ]
            outcomes = [await job for job in jobs]
        checks = statistics.mean(o.checks for o in outcomes)
        return checks, statistics.mean(o.elapsed_s for o in outcomes)

    return testing.run(main)


def test_a_right_hint_saves_checks_and_lag_on_a_cold_start() -> None:
    cold_checks, cold_elapsed = _run(None)
    hinted_checks, hinted_elapsed = _run(60.0)
    assert hinted_checks < cold_checks
    assert hinted_elapsed < cold_elapsed


def test_a_hint_must_be_positive() -> None:
    async def main() -> None:
        _, client = testing.mock_client()
        async with Poller(client, rpm=600, clock=testing.clock()) as p:
            with pytest.raises(ConfigurationError, match="duration_hint_s"):
                await p.create_response(model="m", input="q", duration_hint_s=0)

    testing.run(main)
