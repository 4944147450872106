"""Several processes on one RedisBudget: the per-second guarantee, and a crash frees itself."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchpoll import Priority
from tests.redis._worker import SETTINGS, budget
from tests.redis.conftest import max_in_1s

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CAP = 10  # 600 rpm


def worker(url: str, name: str, seconds: float, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.redis._worker", url, name, str(seconds), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_three_processes_never_put_more_than_the_quantum_in_a_redis_second(
    redis_url: str, name: str
) -> None:
    seconds = 3.0
    procs = [worker(redis_url, name, seconds) for _ in range(3)]
    grants: list[float] = []
    trips = 0
    for p in procs:
        out, _ = p.communicate(timeout=120)  # slow starts when the machine is busy
        assert p.returncode == 0
        for line in out.splitlines():
            if line.startswith("round_trips"):
                trips += int(line.split()[1])
            else:
                grants.append(float(line))
    assert max_in_1s(grants) <= CAP
    # Not a budget that grants nothing: after the workers' start (and a birth pause of
    # H + D + 1 = 2.25 s on a Redis just started), the shared rate (10/s) is used.
    busy = max(grants) - min(grants)
    assert busy > 1.5
    assert len(grants) >= 0.75 * SETTINGS.target_per_s * busy
    assert trips <= len(grants) + 3 * 4  # about one round trip per grant at most


async def test_a_killed_process_leaves_nothing_stuck(redis_url: str, name: str) -> None:
    holder = worker(redis_url, name, 30.0, "hold", "4")
    assert holder.stdout is not None
    loop = asyncio.get_running_loop()
    for _ in range(4):  # it holds 4 grants, never released, plus bookings ahead
        await loop.run_in_executor(None, holder.stdout.readline)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    killed = time.monotonic()
    b = budget(redis_url, name)
    got = [await b.acquire(Priority.CHECK) for _ in range(CAP)]
    # The dead process's leases end D + late + 1 s after their start, its bookings within
    # the horizon: the window is ours again by then.
    assert time.monotonic() - killed < 1.0 + 0.25 + 1 + 1.0
    assert len(got) == CAP
    await b.aclose()
