"""``batchpoll.testing``: a user's test runs minutes of polling on virtual time."""

from __future__ import annotations

import asyncio

from batchpoll import Poller, Status, testing


def test_the_clock_jumps_to_the_next_timer() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        return loop.time()

    assert testing.run(main, start=10.0) == 3610.0


def test_a_timeout_fires_on_virtual_time() -> None:
    async def main() -> bool:
        try:
            await asyncio.wait_for(asyncio.Event().wait(), timeout=30)
        except TimeoutError:
            return asyncio.get_running_loop().time() == 30.0
        return False

    assert testing.run(main)


def test_ten_minute_jobs_are_tracked_to_the_end() -> None:
    async def main() -> tuple[list[Status], float, int]:
        app, client = testing.mock_client(
            duration_median_s=600, duration_sigma=0.3, fail_rate=0.0, tool_rate=0.0, seed=3
        )
        async with Poller(client, rpm=600, clock=testing.clock(), seed=1) as poller:
            jobs = [
                await poller.create_response(model="gpt-4o-mini", input=f"q{i}") for i in range(5)
            ]
            outcomes = [await job for job in jobs]
        checks = app.state.mock.stats()["requests_total"]
        return [o.status for o in outcomes], asyncio.get_running_loop().time(), checks

    statuses, elapsed_s, requests = testing.run(main)
    assert statuses == [Status.COMPLETED] * 5
    assert elapsed_s > 300  # minutes of virtual time went by
    assert requests >= 10  # each job created and checked through the mock


def test_virtual_time_stands_still_while_a_thread_works() -> None:
    # The SDK looks up the platform in a thread at its first request; if the clock jumped
    # to the next timer meanwhile, when that request left would depend on the thread's speed.
    import time as real_time

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        timer = asyncio.ensure_future(asyncio.sleep(10.0))  # a timer the clock could jump to
        await asyncio.to_thread(real_time.sleep, 0.05)
        at_thread_end = loop.time()
        await timer
        return at_thread_end, loop.time()

    at_thread_end, after = testing.run(main)
    assert at_thread_end == 0.0
    assert after == 10.0
