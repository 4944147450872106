"""A bulk run learns in time: every job created at once, durations not told (virtual time)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests._virtual import EPOCH, run_virtual, virtual_mock

from batchpoll import Budget, LoopClock, Poller


def _bulk(
    n: int, median_s: float, poll: Any = None, budget: type[Budget] | None = None
) -> dict[str, float]:
    async def main() -> dict[str, float]:
        app, client = virtual_mock(
            rpm=60_000,
            duration_median_s=median_s,
            duration_sigma=0.5,
            queue_delay_s=0.0,
            fail_rate=0.0,
            tool_rate=0.0,
            seed=4,
        )
        clock = LoopClock(epoch=EPOCH)
        extra: dict[str, Any] = {} if poll is None else {"poll": poll}
        if budget is not None:
            extra["budget"] = budget(60_000.0, clock=clock)
        else:
            extra["rpm"] = 60_000
        async with Poller(client, clock=clock, seed=4, **extra) as p:
            jobs = await asyncio.gather(
                *(p.create_response(model="m", input=f"q{i}") for i in range(n))
            )
            outcomes = [await job for job in jobs]
            assert all(o.ok for o in outcomes)
        stats = app.state.mock.stats()
        return {
            "lag": stats["detection_lag_s"]["mean"],
            "checks": stats["checks_per_job"]["mean"],
        }

    return run_virtual(main)


def test_short_jobs_created_together_are_re_planned_as_the_model_learns() -> None:
    # 3 s jobs; the cold prior's plan (median 6 s) had them all wait ~10 s: 6.3 s of lag.
    figures = _bulk(200, 3.0)
    assert figures["lag"] < 1.5
    assert figures["checks"] < 4.0


def test_long_jobs_created_together_are_not_checked_as_if_short() -> None:
    # 20 s jobs: fitted from the first few that ended (the running ones ignored), they were
    # checked ~10 times each. Counting the running ones as censored keeps it near the DP's.
    figures = _bulk(200, 20.0)
    assert figures["checks"] < 6.0
    assert figures["lag"] < 3.0


def test_spare_quota_buys_lag_only_when_opted_in_and_never_from_a_shared_budget() -> None:
    from batchpoll import PollSettings

    class SharedBudget(Budget):
        shared = True

    default = _bulk(200, 3.0)
    spent = _bulk(200, 3.0, poll=PollSettings(idle_lag_weight=8.0))
    assert spent["checks"] > default["checks"] + 0.5
    assert spent["lag"] < 0.85 * default["lag"]
    shared = _bulk(200, 3.0, poll=PollSettings(idle_lag_weight=8.0), budget=SharedBudget)
    assert shared == default  # the same run, request for request
