"""Does the learned schedule approach the optimum without being told the durations?

    .venv/bin/python benchmarks/learned_schedule.py

For each duration distribution (lognormal median 8 s sigma 0.6; median 3 s sigma 0.8), 400
background responses go through one Poller against the in-process mock on a virtual clock,
with a rate limit far above need. The mock measures checks per job and detection lag (time
from a job's end to the first retrieve that saw it). References, on the same distribution:
the dynamic-programming optimum (swept over lambda, interpolated at the learned run's mean
lag) and the seed tutorial's backoff (0.5 s x1.5, capped at 5 s), both simulated on 20,000
draws. Targets: checks <= 1.15 x optimum at the same mean lag; mean lag <= 1.1 x seed's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import random
import sys
from collections.abc import Callable
from typing import Any

import looptime
import structlog

import batchpoll
from batchpoll import testing
from batchpoll._learn import optimal_schedule


def simulate(next_age: Callable[[float], float], draws: list[float]) -> tuple[float, float]:
    """(checks per job, mean lag) of a schedule of check ages on the given durations."""
    checks, lag = 0, 0.0
    for d in draws:
        age = 0.0
        while True:
            age = next_age(age)
            checks += 1
            if age >= d:
                lag += age - d
                break
    return checks / len(draws), lag / len(draws)


def seed_next_age(age: float) -> float:
    t, wait = 0.0, 0.5
    while t <= age + 1e-9:
        t += wait
        wait = min(wait * 1.5, 5.0)
    return t


def optimum_at_lag(median: float, sigma: float, target_lag: float, draws: list[float]) -> float:
    """Checks per job of the DP optimum whose mean lag equals ``target_lag`` (interpolated)."""
    points = []
    for lam in (0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        s = optimal_schedule(math.log(median), sigma, lam, min_interval_s=0.05)
        points.append(simulate(s.next_age, draws)[::-1])  # (lag, checks)
    points.sort()
    for (lag0, c0), (lag1, c1) in itertools.pairwise(points):
        if lag0 <= target_lag <= lag1:
            w = (target_lag - lag0) / (lag1 - lag0) if lag1 > lag0 else 0.0
            return c0 + w * (c1 - c0)
    return points[0][1] if target_lag < points[0][0] else points[-1][1]


async def learned_run(median: float, sigma: float, jobs: int, seed: int) -> dict[str, Any]:
    app, client = testing.mock_client(
        api_key="sk-bench",
        rpm=60_000,
        duration_median_s=median,
        duration_sigma=sigma,
        queue_delay_s=0.0,
        fail_rate=0.0,
        tool_rate=0.0,
        seed=seed,
    )
    poller = batchpoll.Poller(client, rpm=60_000, clock=testing.clock(), seed=seed)
    async with poller as p:
        handles = []
        for i in range(jobs):  # arrivals spread over a minute, as jobs arrive in practice
            handles.append(await p.create_response(model="m", input=f"q{i}"))
            await asyncio.sleep(60.0 / jobs)
        outcomes = [await h for h in handles]
    stats = app.state.mock.stats()
    assert all(o.ok for o in outcomes)
    return {
        "checks_per_job": stats["checks_per_job"]["mean"],
        "lag_mean_s": stats["detection_lag_s"]["mean"],
        "lag_p50_s": stats["detection_lag_s"]["p50"],
        "lag_p99_s": stats["detection_lag_s"]["p99"],
    }


def main() -> None:
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    rows = []
    for median, sigma in ((8.0, 0.6), (3.0, 0.8)):
        rng = random.Random(7)
        draws = [median * math.exp(sigma * rng.gauss(0, 1)) for _ in range(20_000)]
        loop = looptime.new_event_loop(start=0.0)
        try:
            run = loop.run_until_complete(learned_run(median, sigma, 400, seed=3))
        finally:
            loop.close()
        seed_checks, seed_lag = simulate(seed_next_age, draws)
        opt = optimum_at_lag(median, sigma, run["lag_mean_s"], draws)
        rows.append(
            {
                "distribution": f"lognormal median {median:g} s sigma {sigma:g}",
                "learned": run,
                "seed_backoff": {
                    "checks_per_job": round(seed_checks, 2),
                    "lag_mean_s": round(seed_lag, 2),
                },
                "optimum_checks_at_same_lag": round(opt, 2),
                "checks_vs_optimum": round(run["checks_per_job"] / opt, 3),
                "lag_vs_seed": round(run["lag_mean_s"] / seed_lag, 3),
                "checks_vs_seed": round(run["checks_per_job"] / seed_checks, 3),
                "targets": "checks_vs_optimum <= 1.15, lag_vs_seed <= 1.1",
            }
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
