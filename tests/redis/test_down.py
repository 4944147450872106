"""Redis stops mid-run: no grant while it is gone, a log line says so, and after it comes back
empty (its data lost) the budget waits out every lease it may have forgotten."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from batchpoll import Priority
from tests.redis.test_budget import BIRTH_S, budget

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def own_redis(redis_url: str) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    if shutil.which("redis-server") is None:
        if os.environ.get("BATCHPOLL_CI") or os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    procs = [start(port)]
    yield port, procs
    for p in procs:
        p.kill()
        p.wait()


async def test_no_grant_while_redis_is_down_and_a_wait_after_it_lost_its_data(
    own_redis: tuple[int, list[subprocess.Popen[bytes]]],
) -> None:
    port, procs = own_redis
    b = budget(f"redis://127.0.0.1:{port}/0", "down")
    (await b.acquire()).release()
    with capture_logs() as logs:
        procs[0].kill()  # no shutdown, no save: as a crash
        procs[0].wait()
        await asyncio.sleep(0.4)  # bookings held from before are spent or lapse
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await b.acquire(Priority.SUBMIT)
        assert b.down
        # From before the restart: the forgotten leases end BIRTH_S after the server's start
        # (its uptime says when), which is before the test sees its port open.
        restarted = time.monotonic()
        procs.append(start(port))
        (await b.acquire(Priority.SUBMIT)).release()
        waited = time.monotonic() - restarted
    events = [e["event"] for e in logs]
    assert events.count("batchpoll.budget.redis_down") == 1
    assert "batchpoll.budget.redis_back" in events
    assert not b.down
    assert waited >= BIRTH_S - 0.1  # leases of before the crash may still occupy the window
    assert waited < BIRTH_S + 2.5  # the backoff is at most 2 s
    await b.aclose()
