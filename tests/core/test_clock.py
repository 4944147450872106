"""The poller's ``Clock`` is where it reads time and where it waits: a poller on a clock that
runs at half the loop's speed lives at half speed, budget, scheduler and backoff alike."""

from __future__ import annotations

import asyncio

from batchpoll import Budget, BudgetSettings, LoopClock, Poller, Status, testing


class HalfSpeed(LoopClock):
    """Half a second of this clock per second of the loop; every wait counted."""

    __slots__ = ("sleeps", "waits")

    def __init__(self) -> None:
        super().__init__(testing.EPOCH)
        self.sleeps = 0
        self.waits = 0

    def now(self) -> float:
        return super().now() / 2

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        await asyncio.sleep(seconds * 2)

    async def wait(self, event: asyncio.Event, timeout_s: float | None) -> bool:
        self.waits += 1
        return await super().wait(event, None if timeout_s is None else timeout_s * 2)


def test_the_budget_spends_its_rate_per_second_of_its_own_clock() -> None:
    async def main() -> tuple[float, int, int]:
        loop = asyncio.get_running_loop()
        clock = HalfSpeed()
        budget = Budget(BudgetSettings(600, headroom=1.0), clock=clock)  # 10 per clock second
        start = loop.time()
        for _ in range(41):
            (await budget.acquire()).release()
        await budget.aclose()
        return loop.time() - start, clock.sleeps, clock.waits

    loop_s, sleeps, waits = testing.run(main)
    # 40 tokens after the first at 10 per clock second: 4 clock seconds, 8 of the loop's (on
    # the loop's own clock the budget would have taken 4).
    assert 7.5 <= loop_s <= 8.5
    assert sleeps + waits >= 1  # the pump waited on the clock, not on the loop


def test_a_poller_on_a_slow_clock_checks_on_its_schedule_and_waits_on_it() -> None:
    async def main() -> tuple[list[Status], list[float], float, int]:
        loop = asyncio.get_running_loop()
        _, client = testing.mock_client(
            duration_median_s=20, duration_sigma=0.2, fail_rate=0.0, tool_rate=0.0, seed=4
        )
        clock = HalfSpeed()
        async with Poller(client, rpm=600, clock=clock, seed=1) as poller:
            jobs = [await poller.create_response(model="m", input=f"q{i}") for i in range(4)]
            outcomes = [await job for job in jobs]
        return (
            [o.status for o in outcomes],
            [o.elapsed_s for o in outcomes],
            loop.time(),
            clock.waits,
        )

    statuses, elapsed_s, loop_s, waits = testing.run(main)
    assert statuses == [Status.COMPLETED] * 4
    # Jobs of ~20 loop seconds take ~10 on the poller's clock, and the scheduler slept on it
    # between checks (waits), so the run did not end early or spin.
    assert all(5.0 <= e <= 18.0 for e in elapsed_s), elapsed_s
    assert sum(elapsed_s) / len(elapsed_s) < 15.0  # on the loop's clock: over 20
    assert loop_s >= 15.0
    assert waits >= 4


def test_a_pinned_clock_reads_its_loops_time_and_a_second_loop_unpins_it() -> None:
    # A pin skips asking asyncio which loop runs; a pin from another loop (here a real-time
    # loop in a thread, while a virtual one holds the first pin) must not make either read
    # the other's time.
    clock = LoopClock()

    def elsewhere() -> tuple[float, float]:
        async def real() -> tuple[float, float]:
            unpin = clock.pin()
            try:
                return clock.now(), asyncio.get_running_loop().time()
            finally:
                unpin()

        return asyncio.run(real())

    async def main() -> tuple[float, float, tuple[float, float], float]:
        unpin = clock.pin()
        pinned = clock.now()
        await asyncio.sleep(5)
        later = clock.now()
        other = await asyncio.to_thread(elsewhere)
        after = clock.now()
        unpin()
        unpin()  # idempotent
        return pinned, later, other, after

    pinned, later, (real_read, real_time), after = testing.run(main, start=1000.0)
    assert pinned == 1000.0
    assert later == 1005.0
    assert abs(real_read - real_time) < 1.0  # the thread's loop read its own time
    assert after == 1005.0  # and the virtual loop still reads virtual time
