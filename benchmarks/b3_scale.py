"""B3 scale: scheduler CPU per check and memory per tracked job, against a task per job;
end-to-end request throughput against a raw httpx loop.

Scheduler part: HTTP replaced by an in-process stub (``_stub.StubKind``), each measurement
in a fresh process (``python -m benchmarks.b3_scale worker ...``) so that RSS deltas are
clean. Both sides run the same check schedule (batchpoll's own ``next_check_delay``) and the
same budget rate (high enough not to be the limit). Throughput part: a mock without a rate
limit in its own process; the same number of run retrieves by a raw ``httpx2`` loop, a plain
SDK loop, and batchpoll.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
from aiolimiter import AsyncLimiter
from openai import AsyncOpenAI

import batchpoll
from batchpoll._policy import JobTiming, next_check_delay

from . import _mockproc
from ._compat import poll_settings
from ._env import progress
from ._report import Section, fmt, table, verdict
from ._stub import StubKind

BUDGET_RPM = 6_000_000.0  # 100,000 requests/s: never the limit here
MEDIAN_S = 120.0  # job durations: most jobs stay tracked during the measurement
TARGET_CPU_US = 20.0
TARGET_MEMORY_RATIO = 0.2


def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Stop(Exception):
    """Leave the poller without waiting for the jobs (they get an 'aborted' outcome)."""


def _settings() -> batchpoll.PollSettings:
    return poll_settings(timeout_s=None)


def _emit(result: dict[str, Any]) -> None:
    """Print the figures and leave at once: tearing 100,000 jobs down only costs time."""
    print(json.dumps(result), flush=True)
    os._exit(0)


async def _measure(
    setup: Callable[[], Awaitable[Callable[[], int]]], jobs: int, seconds: float
) -> dict[str, Any]:
    """``setup`` starts tracking and returns a check counter; RSS and CPU around it.

    In a worker process this never returns: the figures are printed and the process ends.
    """
    gc.collect()
    rss0 = rss_bytes()
    checks = await setup()
    await asyncio.sleep(0)
    gc.collect()
    rss1 = rss_bytes()
    cpu0, wall0, n0 = time.process_time(), time.monotonic(), checks()
    await asyncio.sleep(seconds)
    cpu1, wall1, n1 = time.process_time(), time.monotonic(), checks()
    gc.collect()
    rss2 = rss_bytes()
    done = n1 - n0
    result = {
        "jobs": jobs,
        "bytes_per_job_setup": (rss1 - rss0) / jobs,
        "bytes_per_job": (rss2 - rss0) / jobs,
        "checks": done,
        "wall_s": wall1 - wall0,
        "checks_per_s": done / (wall1 - wall0),
        "cpu_per_check_us": (cpu1 - cpu0) / max(done, 1) * 1e6,
        "cpu_share": (cpu1 - cpu0) / (wall1 - wall0),
    }
    _emit(result)
    return result


async def worker_batchpoll(jobs: int, seconds: float) -> dict[str, Any]:
    kind = StubKind()
    keys = kind.plan(jobs, MEDIAN_S)
    client = AsyncOpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9/v1")  # never called
    result: dict[str, Any] = {}
    try:
        async with batchpoll.Poller(client, rpm=BUDGET_RPM, poll=_settings()) as poller:

            async def setup() -> Callable[[], int]:
                for key in keys:
                    poller.track(kind, {"id": key}, key=key)
                return lambda: poller.stats().checks

            result = await _measure(setup, jobs, seconds)
            raise _Stop
    except _Stop:
        pass
    return result


async def worker_tasks(jobs: int, seconds: float) -> dict[str, Any]:
    """The usual way: one asyncio task per job, sleeping between checks, one shared limiter."""
    kind = StubKind()
    keys = kind.plan(jobs, MEDIAN_S)
    settings = _settings()
    budget = batchpoll.BudgetSettings(BUDGET_RPM)
    limiter = AsyncLimiter(1.0, 1.0 / budget.target_per_s)  # batchpoll's bucket shape
    uniform = random.Random(1).random
    loop = asyncio.get_running_loop()
    count = [0]

    async def one(key: str) -> None:
        ids = {"id": key}
        start, k = loop.time(), 1  # tracked: the first check is due at once
        while True:
            async with limiter:
                pass
            reply = await kind.check(None, ids)
            count[0] += 1
            if reply.value.terminal:
                return
            k += 1
            timing = JobTiming(age_s=loop.time() - start, checks=k)
            await asyncio.sleep(next_check_delay(timing, settings, uniform))

    tasks: list[asyncio.Task[None]] = []

    async def setup() -> Callable[[], int]:
        tasks.extend(loop.create_task(one(key)) for key in keys)
        return lambda: count[0]

    result = await _measure(setup, jobs, seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return result


# --- end-to-end throughput against the mock ----------------------------------------------------


async def _create_runs(base_url: str, n: int) -> list[tuple[str, str]]:
    async with httpx2.AsyncClient(base_url=base_url, timeout=30) as http:
        ids = []
        for i in range(n):
            body = {
                "assistant_id": "asst_bench",
                "thread": {"messages": [{"role": "user", "content": f"item {i}"}]},
            }
            reply = await http.post("/threads/runs", json=body)
            reply.raise_for_status()
            run = reply.json()
            ids.append((run["thread_id"], run["id"]))
    return ids


async def _loop(
    runs: list[tuple[str, str]], total: int, workers: int, one: Callable[[str, str], Awaitable[Any]]
) -> None:
    counter = iter(range(total))

    async def work() -> None:
        for n in counter:
            thread_id, run_id = runs[n % len(runs)]
            await one(thread_id, run_id)

    await asyncio.gather(*(work() for _ in range(workers)))


async def throughput_raw(base_url: str, runs: list[tuple[str, str]], total: int, c: int) -> None:
    headers = {"authorization": "Bearer sk-bench"}
    limits = httpx2.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx2.AsyncClient(base_url=base_url, headers=headers, limits=limits) as http:

        async def one(thread_id: str, run_id: str) -> None:
            reply = await http.get(f"/threads/{thread_id}/runs/{run_id}")
            reply.raise_for_status()
            reply.json()

        await _loop(runs, total, c, one)


async def throughput_sdk(base_url: str, runs: list[tuple[str, str]], total: int, c: int) -> None:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)

    async def one(thread_id: str, run_id: str) -> None:
        await client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)

    await _loop(runs, total, c, one)
    await client.close()


async def throughput_batchpoll(
    base_url: str, runs: list[tuple[str, str]], total: int, c: int
) -> None:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")
    # Every job is due again 1 ms after its check: the scheduler never waits for the policy.
    settings = poll_settings(
        strategy="backoff", growth=1e-6, min_interval_s=1e-3, jitter=0.0, timeout_s=None
    )
    try:
        async with batchpoll.Poller(
            client, rpm=BUDGET_RPM * 10, poll=settings, max_concurrency=c
        ) as poller:
            for thread_id, run_id in runs:
                poller.track_run(thread_id, run_id)
            # The poller has no event for "n requests made": look every 5 ms.
            while poller.stats().requests < total:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            raise _Stop
    except _Stop:
        pass
    await client.close()


THROUGHPUT = {
    "raw `httpx2.AsyncClient` loop": throughput_raw,
    "plain SDK `runs.retrieve` loop (max_retries=0)": throughput_sdk,
    "**batchpoll** (`track_run`, every job always due)": throughput_batchpoll,
}


def _process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks
    except (OSError, IndexError, ValueError):
        return float("nan")


def throughput(total: int, concurrency: int = 64, n_runs: int = 256) -> dict[str, Any]:
    spec = _mockproc.MockSpec(
        rpm=None, duration_median_s=100_000.0, duration_sigma=0.0, fail_rate=0.0, tool_rate=0.0
    )
    out: dict[str, Any] = {}
    with _mockproc.mock_process(spec) as base_url:
        pid = _mockproc.last_pid()
        runs = asyncio.run(_create_runs(base_url, n_runs))
        for name, fn in THROUGHPUT.items():
            progress(f"B3 throughput: {name}, {total:,} retrieves")
            before = _mockproc.stats(base_url)["requests_total"]
            server0, cpu0, wall0 = _process_cpu_s(pid), time.process_time(), time.monotonic()
            asyncio.run(fn(base_url, runs, total, concurrency))
            wall = time.monotonic() - wall0
            cpu, server = time.process_time() - cpu0, _process_cpu_s(pid) - server0
            requests = _mockproc.stats(base_url)["requests_total"] - before
            out[name] = {
                "requests": requests,
                "wall_s": wall,
                "requests_per_s": requests / wall,
                "client_cpu_per_request_us": cpu / requests * 1e6,
                "server_cpu_per_request_us": server / requests * 1e6,
            }
    return out


def calibrate() -> dict[str, float]:
    """CPU costs of asyncio basics and plain Python here, to compare machines."""

    async def measure() -> tuple[float, float]:
        async def nothing() -> None:
            return None

        loop = asyncio.get_running_loop()
        t0 = time.process_time()
        for _ in range(50_000):
            await asyncio.sleep(0)
        t1 = time.process_time()
        for _ in range(20_000):
            await loop.create_task(nothing())
        t2 = time.process_time()
        return (t1 - t0) / 50_000 * 1e6, (t2 - t1) / 20_000 * 1e6

    sleep0_us, task_us = asyncio.run(measure())
    t0 = time.process_time()
    total = 0
    for i in range(1_000_000):
        total += i
    adds_ms = (time.process_time() - t0) * 1e3
    return {"sleep0_us": sleep0_us, "task_us": task_us, "adds_ms": adds_ms}


# --- orchestration -----------------------------------------------------------------------------


def _spawn(impl: str, jobs: int, seconds: float) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.b3_scale",
        "worker",
        impl,
        "--jobs",
        str(jobs),
        "--seconds",
        str(seconds),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(full: bool = False) -> Section:
    sizes = (1_000, 10_000, 100_000)
    seconds = 30.0 if full else 5.0
    calib = calibrate()
    scale: dict[str, dict[int, dict[str, Any]]] = {"batchpoll": {}, "tasks": {}}
    for jobs in sizes:
        for impl in ("batchpoll", "tasks"):
            progress(f"B3 scale: {impl}, {jobs:,} jobs, {seconds:.0f} s")
            scale[impl][jobs] = _spawn(impl, jobs, seconds)
    total = 20_000 if full else 2_000
    tput = throughput(total)
    return _section(scale, tput, seconds, total, calib)


def _section(
    scale: dict[str, dict[int, dict[str, Any]]],
    tput: dict[str, dict[str, Any]],
    seconds: float,
    total: int,
    calib: dict[str, float],
) -> Section:
    header = [
        "tracked jobs",
        "batchpoll CPU/check",
        "task-per-job CPU/check",
        "batchpoll memory/job",
        "task-per-job memory/job",
        "memory ratio",
        "batchpoll checks/s",
        "task-per-job checks/s",
        f"verdict (≤ {TARGET_CPU_US:g} µs, ≤ 1/5 memory)",
    ]
    rows = []
    for jobs, b in scale["batchpoll"].items():
        t = scale["tasks"][jobs]
        ratio = b["bytes_per_job"] / t["bytes_per_job"]
        ok = b["cpu_per_check_us"] <= TARGET_CPU_US and ratio <= TARGET_MEMORY_RATIO
        rows.append(
            [
                f"{jobs:,}",
                fmt(b["cpu_per_check_us"], 1, " µs"),
                fmt(t["cpu_per_check_us"], 1, " µs"),
                fmt(b["bytes_per_job"], 0, " B"),
                fmt(t["bytes_per_job"], 0, " B"),
                fmt(ratio),
                fmt(b["checks_per_s"], 0),
                fmt(t["checks_per_s"], 0),
                verdict(ok),
            ]
        )
    raw = next(iter(tput.values()))
    trows = [
        [
            name,
            f"{r['requests']:,}",
            fmt(r["wall_s"], 2, " s"),
            fmt(r["requests_per_s"], 0),
            fmt(r["requests_per_s"] / raw["requests_per_s"]),
            fmt(r["client_cpu_per_request_us"], 0, " µs"),
            fmt(r["server_cpu_per_request_us"], 0, " µs"),
        ]
        for name, r in tput.items()
    ]
    lines = [
        "## B3 scale",
        "",
        f"Scheduler: N jobs tracked at once with an in-process stub kind (no HTTP), durations "
        f"lognormal median {MEDIAN_S:g} s σ 0.8, measured over {seconds:g} s after tracking, "
        "each in a fresh process. CPU per check = process CPU time / checks in that window "
        "(everything: scheduler, budget, heap, policy, task per check, stub). Memory per job = "
        "RSS growth (after gc) from before tracking to the end of the window, divided by N. "
        "Task-per-job baseline: one asyncio task per job looping `aiolimiter` acquire → stub "
        "check → `asyncio.sleep(next_check_delay(...))`, same schedule, same rate.",
        "",
        table(header, rows),
        "",
        "Memory right after setup (before any check): batchpoll "
        + ", ".join(f"{fmt(r['bytes_per_job_setup'], 0)} B" for r in scale["batchpoll"].values())
        + "; task per job "
        + ", ".join(f"{fmt(r['bytes_per_job_setup'], 0)} B" for r in scale["tasks"].values())
        + " (1k, 10k, 100k).",
        "",
        f"Calibration of this machine: `await asyncio.sleep(0)` costs {calib['sleep0_us']:.1f} µs "
        f"of CPU, creating and awaiting a task {calib['task_us']:.1f} µs, 10⁶ integer "
        f"additions in a Python loop {calib['adds_ms']:.0f} ms: scale the µs figures by these "
        "to compare machines.",
        "",
        f"End-to-end throughput: {total:,} run retrieves against the mock without a rate "
        "limit (its own process; 256 runs, 64 requests in flight). On 2 cores the client and "
        "the server share the CPU; the CPU columns separate the two.",
        "",
        table(
            [
                "client",
                "requests",
                "wall",
                "requests/s",
                "× raw",
                "client CPU/request",
                "server CPU/request",
            ],
            trows,
        ),
        "",
    ]
    data = {"scale": scale, "throughput": tput, "calibration": calib}
    return Section("b3", "\n".join(lines), [], data)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="one B3 scheduler measurement (JSON on stdout)")
    ap.add_argument("mode", choices=["worker"])
    ap.add_argument("impl", choices=["batchpoll", "tasks"])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args(argv)
    from ._env import quiet

    quiet()
    worker = worker_batchpoll if args.impl == "batchpoll" else worker_tasks
    asyncio.run(worker(args.jobs, args.seconds))  # prints its figures and exits


if __name__ == "__main__":
    main()
