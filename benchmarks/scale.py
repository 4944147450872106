"""Scale of the core: N tracked jobs in one process, HTTP replaced by an in-process stub.

    .venv/bin/python benchmarks/scale.py --jobs 100000 --seconds 60

Every job is tracked (`Poller.track`) with a stub kind whose `check` answers from a table of
finish times (lognormal durations, median --median-s), so what is measured is batchpoll
itself: resident memory per tracked job, and process CPU per check (scheduler, budget, heap,
policy, bookkeeping) at a budget high enough not to be the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import random
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from openai import AsyncOpenAI

import batchpoll
from batchpoll.kinds import Ids, Reply, Snapshot

NO_HEADERS: Mapping[str, str] = {}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StubKind:
    """A job kind without HTTP: finished once the loop clock passes the job's finish time."""

    name = "stub"
    chained = False

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Any]) -> Mapping[str, Any]:
        return params

    def metered(self, ids: Ids, outputs: Any, params: Mapping[str, Any]) -> None:
        return None

    def __init__(self) -> None:
        self.finish_at: dict[str, float] = {}

    async def create(self, client: AsyncOpenAI, params: Mapping[str, Any]) -> Reply[Any]:
        raise NotImplementedError

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        done = asyncio.get_running_loop().time() >= self.finish_at[ids["id"]]
        return Reply(Snapshot("completed" if done else "in_progress"), NO_HEADERS)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return False

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        raise NotImplementedError

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        raise NotImplementedError

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raise NotImplementedError


async def run(jobs: int, seconds: float, median_s: float, rpm: float) -> dict[str, Any]:
    kind = StubKind()
    rng = random.Random(1)
    client = AsyncOpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9/v1")
    gc.collect()
    rss0 = rss_mb()
    loop = asyncio.get_running_loop()
    async with batchpoll.Poller(client, rpm=rpm, poll=batchpoll.PollSettings(timeout_s=None)) as p:
        now = loop.time()
        handles = []
        for i in range(jobs):
            key = str(i)
            kind.finish_at[key] = now + median_s * math.exp(0.8 * rng.gauss(0, 1))
            handles.append(p.track(kind, {"id": key}, key=key))
        gc.collect()
        rss1 = rss_mb()
        cpu0, wall0 = time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.monotonic()
        stats = p.stats()
        for job in handles:  # stop here: finish the rest without waiting
            if not job.done():
                p._engine.finish(job._record, batchpoll.Status.CANCELLED)
    return {
        "jobs": jobs,
        "rss_baseline_mb": round(rss0, 1),
        "rss_tracking_mb": round(rss1, 1),
        "bytes_per_tracked_job": round((rss1 - rss0) * 1024 * 1024 / jobs),
        "checks": stats.checks,
        "done": stats.done,
        "wall_s": round(wall1 - wall0, 2),
        "checks_per_s": round(stats.checks / (wall1 - wall0)),
        "cpu_per_check_us": round((cpu1 - cpu0) / max(stats.checks, 1) * 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--median-s", type=float, default=120.0)
    ap.add_argument("--rpm", type=float, default=6_000_000)
    args = ap.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    print(json.dumps(asyncio.run(run(args.jobs, args.seconds, args.median_s, args.rpm)), indent=2))


if __name__ == "__main__":
    main()
