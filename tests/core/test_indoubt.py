"""``InDoubt``: N slots for the requests that create a job; urgent waiters (a chain's
continuation) are served before creates, and a cancelled waiter never leaks a slot."""

from __future__ import annotations

import asyncio

import pytest

from batchpoll._indoubt import InDoubt

pytestmark = pytest.mark.looptime  # the loop's clock is virtual: a sleep takes no real time


async def test_slots_bound_the_holders_and_urgent_waiters_go_first() -> None:
    slots = InDoubt(2)
    order: list[str] = []
    holding = 0
    peak = 0

    async def use(name: str, urgent: bool) -> None:
        nonlocal holding, peak
        async with slots.slot(urgent=urgent):
            holding += 1
            peak = max(peak, holding)
            order.append(name)
            await asyncio.sleep(0.01)
            holding -= 1

    tasks = [asyncio.create_task(use(f"c{i}", False)) for i in range(4)]
    await asyncio.sleep(0)  # c0 and c1 hold the slots; c2, c3 wait
    tasks.append(asyncio.create_task(use("u", True)))
    await asyncio.gather(*tasks)
    assert peak == 2
    assert order[:2] == ["c0", "c1"]
    assert order[2] == "u"  # arrived last, served first
    assert sorted(order[3:]) == ["c2", "c3"]


async def test_a_cancelled_waiter_takes_nothing_and_a_handed_slot_is_passed_on() -> None:
    slots = InDoubt(1)
    await slots.acquire()
    waiting = asyncio.create_task(slots.acquire())
    behind = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    waiting.cancel()  # cancelled while it waits
    await asyncio.gather(waiting, return_exceptions=True)
    slots.release()  # goes to the one behind
    await asyncio.wait_for(behind, 1.0)
    assert not slots.try_acquire()
    # Handed a slot, then cancelled before it ran: the slot goes back.
    late = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # hands it to ``late``...
    late.cancel()  # ...which is cancelled before it resumes
    await asyncio.gather(late, return_exceptions=True)
    assert slots.try_acquire()  # the slot was not lost
    assert not slots.try_acquire()


async def test_try_acquire_lets_urgent_waiters_go_first() -> None:
    slots = InDoubt(1)
    await slots.acquire()
    urgent = asyncio.create_task(slots.acquire(urgent=True))
    await asyncio.sleep(0)
    slots.release()  # handed to the urgent waiter
    assert not slots.try_acquire()
    await urgent
    slots.release()
    assert slots.try_acquire(urgent=False)
