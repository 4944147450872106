"""Soak: many jobs through the in-process mock (short durations, a high limit), in virtual time.

Resident memory and the poller's internal sizes (heap entries, tasks, jobs in flight, budget
waiters) are sampled as the jobs stream through; they must stay flat once the in-flight window
is full, and come back to their baseline when the work is done. The fast form runs in
``make test``; ``make soak`` runs 100,000 jobs (``BATCHPOLL_SOAK_JOBS`` to change it).

The mock keeps every job it ever created (its stats need them), which would hide the poller's
memory behind the server's: the soak drops from the mock the jobs whose end it has already
served, after counting their creates per item.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import structlog

from batchpoll import Outcome, Status
from batchpoll.mock import MockState
from batchpoll.runner import ITEM_METADATA_KEY
from tests.reliability.test_faults import poller
from tests.runner._helpers import mock

pytestmark = pytest.mark.looptime


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """Warnings only: a debug line per job, kept by pytest's capture, would be a leak of its
    own."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.reset_defaults()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


QUICK: dict[str, Any] = {"queue_delay_s": 0.05, "fail_rate": 0.01, "seed": 2}


@dataclass
class Sample:
    t_s: float
    done: int
    rss_mb: float
    objects: int  # objects the garbage collector tracks
    heap_entries: int
    heap_live: int
    tasks: int
    loop_tasks: int
    in_flight: int
    waiting: int


def forget_served_jobs(state: MockState, created: bytearray) -> None:
    """Drop the jobs whose terminal state the mock already served, counting their creates."""
    with state._lock:
        keep = []
        for job in state.jobs:
            if job.terminal_seen_at is None:
                keep.append(job)
                continue
            created[int(job.labels[ITEM_METADATA_KEY])] += 1
            state.responses.responses.pop(job.id, None)
        state.jobs[:] = keep


async def soak(n: int, in_flight: int, every_s: float) -> tuple[list[Sample], Counter[str], Any]:
    # Jobs of about a second, a limit far above what the loop can use.
    app, client = mock(rpm=600_000, duration_median_s=1.0, duration_sigma=0.3, **QUICK)
    state: MockState = app.state.mock
    loop = asyncio.get_running_loop()
    created = bytearray(n)  # creates per item, counted by the mock
    seen = bytearray(n)  # outcomes per item
    statuses: Counter[str] = Counter()
    room = asyncio.Semaphore(in_flight)
    samples: list[Sample] = []

    def on_done(outcome: Outcome) -> None:
        seen[int(outcome.key)] += 1
        statuses[outcome.status.value] += 1
        room.release()

    async with poller(client, rpm=600_000) as p:

        def sample() -> None:
            forget_served_jobs(state, created)
            gc.collect()
            stats = p.stats()
            samples.append(
                Sample(
                    t_s=loop.time(),
                    done=sum(statuses.values()),
                    rss_mb=rss_mb(),
                    objects=len(gc.get_objects()),
                    heap_entries=stats.heap_entries,
                    heap_live=stats.heap_live,
                    tasks=stats.tasks - 1,  # the steps (not the scheduler)
                    loop_tasks=len(asyncio.all_tasks()),
                    in_flight=p.stats().in_flight,
                    waiting=p.budget.waiting(),
                )
            )

        async def sampler() -> None:
            while True:
                sample()
                await asyncio.sleep(every_s)

        sampling = asyncio.ensure_future(sampler())
        for i in range(n):
            await room.acquire()
            job = await p.create_response(
                key=str(i), model="m", input=f"soak {i}", metadata={ITEM_METADATA_KEY: str(i)}
            )
            job.add_done_callback(on_done)
        await p.join()
        await asyncio.sleep(1.0)  # the scheduler drops the last stale heap entries
        sampling.cancel()
        sample()
    forget_served_jobs(state, created)
    for job in state.jobs:  # jobs never seen ending: none expected
        created[int(job.labels[ITEM_METADATA_KEY])] += 1
    assert set(created) == {1}  # every item created once: none twice, none lost
    assert set(seen) == {1}  # every item has exactly one outcome
    return samples, statuses, p.stats()


@pytest.mark.parametrize(
    ("n", "in_flight", "every_s"),
    [
        pytest.param(1_000, 200, 1.0, id="fast"),
        pytest.param(
            int(os.environ.get("BATCHPOLL_SOAK_JOBS", "100000")),
            2_000,
            10.0,
            marks=pytest.mark.soak,
            id="soak",
        ),
    ],
)
async def test_soak_memory_and_internal_sizes_stay_bounded(
    n: int, in_flight: int, every_s: float
) -> None:
    samples, statuses, stats = await soak(n, in_flight, every_s)
    print(f"\n{n} jobs: {dict(statuses)}; requests {stats.requests}, checks {stats.checks}")
    print("t_s    done  rss_mb objects heap_entries heap_live tasks loop_tasks in_flight waiting")
    step = max(1, len(samples) // 25)
    for s in [*samples[:-1:step], samples[-1]]:
        print(
            f"{s.t_s:5.0f} {s.done:7d} {s.rss_mb:7.1f} {s.objects:7d} {s.heap_entries:12d} "
            f"{s.heap_live:9d} "
            f"{s.tasks:5d} {s.loop_tasks:10d} {s.in_flight:9d} {s.waiting:7d}"
        )
    assert set(statuses) <= {Status.COMPLETED.value, Status.FAILED.value}
    # Bounded by the in-flight window, not by the number of jobs so far.
    for s in samples:
        assert s.in_flight <= in_flight
        assert s.heap_live <= in_flight
        assert s.heap_entries <= 4 * in_flight + 64  # stale entries are compacted
        assert s.tasks <= in_flight + 1
        assert s.loop_tasks <= in_flight + 16
    # Back to the baseline when the work is done: nothing in flight, nothing scheduled.
    end = samples[-1]
    assert (end.in_flight, end.heap_live, end.tasks, end.waiting) == (0, 0, 0, 0)
    assert end.heap_entries == 0
    # Memory: flat while the window is full, from 20 % of the jobs on: the same number of
    # live objects whatever the number of jobs done, and resident memory within a margin
    # (the allocator's arenas settle; a leak of 1 KB per job would be 80 MB here).
    full = [s for s in samples if s.done >= n // 5 and s.in_flight >= in_flight - 10]
    rss = [s.rss_mb for s in full]
    objects = [s.objects for s in full]
    print(
        f"window full: rss {min(rss):.1f}-{max(rss):.1f} MB, objects {min(objects)}-{max(objects)}"
    )
    assert max(objects) <= 1.05 * min(objects)
    assert end.objects <= max(objects)
    assert max(rss) - min(rss) <= 25.0
