"""What a re-plan costs per tracked job (issue #16: at most 5 µs per job per model change).

    .venv/bin/python -m benchmarks.replan_cost [--jobs 100000] [--repeat 5]

``jobs`` responses of one class wait in a ``DueHeap``, each checked once and planned by the
class's model; the model then learns that jobs end later than it thought, and
``Planner.refresh`` re-plans: the running jobs' censored counts, the refit, the DP, and the
pushes of the jobs that moved. Timed: the whole refresh, divided by the jobs tracked.
Wall-clock on a shared machine: the best and the median of ``repeat`` runs are reported, with
all of them and the time CPython's cyclic collector took inside each (the 100,000 new heap
entries often trigger a full collection, which walks every live object of the process).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from batchpoll._heap import DueHeap
from batchpoll._planner import Load, Planner
from batchpoll._policy import PollSettings
from batchpoll._record import Record
from batchpoll.kinds import ResponsesJobs


def setup(n: int, seed: int = 1) -> tuple[Planner, DueHeap[Record], list[Record], Load]:
    uniform = random.Random(seed).random
    planner = Planner(PollSettings(), tools=False, webhooks=None, uniform=uniform)
    kind = ResponsesJobs()
    heap: DueHeap[Record] = DueHeap()
    rng = random.Random(seed)
    load = Load(
        now=5.0, wall=0.0, head_due=None, on_server=n, rate_per_s=1e6, creates_waiting=False
    )
    jobs = []
    for i in range(n):
        job = Record(f"job-{i}", kind, {"response_id": f"r{i}"}, created_at=0.0)
        job.klass = "responses:m"
        job.last_age = 4.0 + rng.random()
        jobs.append(job)
    model = planner.model(jobs[0])
    assert model is not None
    for job in jobs:  # planned under the model so far
        due = 5.0 + planner.next_delay(job, load, pushed=False)
        heap.push(job, due)
    # Then it learns that many ended between 8 and 9 s: every waiting job's next check moves
    # (with the estimate's mixture shape, ends between 4 and 5 s moved only a third of them).
    for _ in range(64):
        model.observe(8.0, 9.0)
    planner._due.add("responses:m")
    return planner, heap, jobs, load


def measure(n: int) -> tuple[float, int, float]:
    """(seconds, jobs moved, seconds of it in CPython's cyclic collector)."""
    planner, heap, jobs, load = setup(n)
    in_gc: list[float] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        in_gc.append(time.perf_counter() if phase == "start" else -time.perf_counter())

    gc.callbacks.append(watch)
    try:
        t0 = time.perf_counter()
        moved = planner.refresh(jobs, heap, load, lambda job: False)
        elapsed = time.perf_counter() - t0
    finally:
        gc.callbacks.remove(watch)
    return elapsed, moved, -sum(in_gc)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    runs = [measure(args.jobs) for _ in range(args.repeat)]
    best, moved, _ = min(runs)
    median = statistics.median(r[0] for r in runs)
    gc_median = statistics.median(r[2] for r in runs)
    print(
        f"{args.jobs:,} jobs tracked, {moved:,} moved: refresh {best * 1e3:.1f} ms "
        f"(best of {args.repeat}; all: {', '.join(f'{r[0] * 1e3:.0f}' for r in runs)} ms; "
        f"of which in the cyclic GC: {', '.join(f'{r[2] * 1e3:.0f}' for r in runs)} ms), "
        f"{best / args.jobs * 1e6:.2f} µs per tracked job best, {median / args.jobs * 1e6:.2f} "
        f"median ({(median - gc_median) / args.jobs * 1e6:.2f} without the GC) (target ≤ 5)"
    )


if __name__ == "__main__":
    main()
