"""RedisBudget in one test process: several budgets on one name stand for several processes
(each has its own connection and process id). Real Redis, real time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import redis.asyncio

from batchpoll import (
    BudgetSettings,
    Poller,
    Priority,
    RedisBudget,
    RedisSettings,
    Status,
)
from batchpoll.mock import MockConfig, asgi_client, create_app
from tests.redis.conftest import PREFIX

SETTINGS = BudgetSettings(600, max_send_delay_s=0.2)  # 10 per 1 s, one every 0.1 s
REDIS = RedisSettings(
    key_prefix=PREFIX, horizon_s=0.3, create_horizon_s=0.2, far_horizon_s=0.4, late_s=0.05
)
BIRTH_S = 0.4 + 0.25 + 1.0  # far reach + D + 1: a new state grants nothing before


def budget(url: str, name: str, **kw: Any) -> RedisBudget:
    kw.setdefault("settings", SETTINGS)
    return RedisBudget(url, name=name, redis=REDIS, **kw)


async def spend(b: RedisBudget, priority: Priority, until: float, got: list[float]) -> None:
    while time.monotonic() < until:
        ticket = await b.acquire(priority)
        if time.monotonic() < until:  # not the last grants of waiters left at the end
            got.append(time.monotonic())
        ticket.release()


async def test_another_process_creates_wait_for_the_submits_it_could_not_book(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name), budget(redis_url, name)
    order: list[str] = []

    async def one(x: RedisBudget, priority: Priority, tag: str) -> None:
        ticket = await x.acquire(priority)
        order.append(tag)
        ticket.release()

    # b asks for 10 submits, more than a script run books (a few, within the 0.3 s horizon
    # at 10/s; and none during a birth pause, on a Redis just started): the rest are unmet,
    # and Redis knows. a's creates, asked later, get slots only once b's demand
    # is booked; without that rule they would take every other slot.
    submits = [asyncio.ensure_future(one(b, Priority.SUBMIT, "s")) for _ in range(10)]
    await asyncio.sleep(0.3)
    creates = [asyncio.ensure_future(one(a, Priority.CREATE, "c")) for _ in range(5)]
    await asyncio.gather(*submits, *creates)
    assert order.index("c") >= 8, order
    await a.aclose()
    await b.aclose()


async def test_a_check_waits_for_anothers_creates_at_most_the_create_horizon(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name), budget(redis_url, name)
    (await a.acquire(Priority.CREATE)).release()
    end = time.monotonic() + 2.0
    creates: list[float] = []
    flood = asyncio.gather(*(spend(a, Priority.CREATE, end, creates) for _ in range(10)))
    await asyncio.sleep(0.5)
    waits = []
    for _ in range(5):
        t0 = time.monotonic()
        (await b.acquire(Priority.CHECK)).release()
        waits.append(time.monotonic() - t0)
        await asyncio.sleep(0.15)
    await flood
    # Creates are booked at most 0.2 s ahead; a check then gets the next slot (0.1 s later).
    assert max(waits) < 0.2 + 0.1 + 0.1, waits
    assert len(creates) > 5  # the creates did saturate the budget
    await a.aclose()
    await b.aclose()


async def test_a_429_in_one_process_pauses_the_others_and_cuts_the_shared_rate(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name), budget(redis_url, name)
    (await a.acquire()).release()
    (await b.acquire()).release()
    await asyncio.sleep(0.4)  # b's booking ahead has lapsed (a booking held is still spent)
    a.on_rate_limited(1.0)
    await asyncio.sleep(0.05)  # the pause reaches Redis (one round trip)
    t0 = time.monotonic()
    (await b.acquire()).release()
    assert time.monotonic() - t0 >= 0.85
    assert b.rate_per_s == pytest.approx(10 * SETTINGS.cut_factor, rel=0.05)
    assert b.stats().paused_s == 0
    await a.aclose()
    await b.aclose()


async def test_a_limit_learned_in_one_process_holds_in_the_others(
    redis_url: str, name: str
) -> None:
    a, b = budget(redis_url, name), budget(redis_url, name)
    (await a.acquire()).release()
    a.on_headers({"x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "250"})
    await asyncio.sleep(0.05)
    (await b.acquire()).release()
    assert b.cap == 5
    assert b.stats().target_rpm == pytest.approx(300)
    assert b.rate_per_s == pytest.approx(5)
    a.on_headers({"x-ratelimit-limit-requests": "900"})  # raised: never above our own rpm
    await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    (await b.acquire()).release()
    assert b.cap == 10
    assert b.stats().target_rpm == pytest.approx(600)
    await a.aclose()
    await b.aclose()


async def test_every_key_expires_by_itself(redis_url: str, name: str) -> None:
    b = budget(redis_url, name)
    tickets = [await b.acquire(p) for p in (Priority.SUBMIT, Priority.CHECK, Priority.CREATE)]
    for t in tickets:
        t.release()
    await b.aclose()
    r = redis.asyncio.Redis.from_url(redis_url)
    keys = sorted([k.decode() async for k in r.scan_iter(f"{PREFIX}:{{{name}}}:*")])
    assert [k.rsplit(":", 1)[1] for k in keys] == ["occ", "state"]  # no unmet demand left
    ttl = {k.rsplit(":", 1)[1]: await r.pttl(k) for k in keys}
    assert 0 < ttl["occ"] <= (0.4 + 0.25 + 2) * 1000  # far reach + D + 2 s
    assert 0 < ttl["state"] <= REDIS.state_ttl_s * 1000
    await r.aclose()


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


async def test_a_poller_runs_its_jobs_on_a_redis_budget(redis_url: str, name: str) -> None:
    app = create_app(
        MockConfig(rpm=600, duration_median_s=0.3, queue_delay_s=0.05, fail_rate=0, seed=3)
    )
    client = asgi_client(app, api_key="sk-test")
    shared = budget(redis_url, name)
    async with Poller(client, budget=shared, tools=[lookup], seed=1) as p:
        jobs = [await p.create_response(model="gpt-test", input=f"q{i}") for i in range(6)]
        outcomes = [await j for j in jobs]
    assert [o.status for o in outcomes] == [Status.COMPLETED] * 6
    assert app.state.mock.stats()["rate_limited"] == 0
    assert shared.stats().granted >= 12  # creates and checks went through Redis
    # About one round trip a grant, plus the releases flushed while nothing else was asked.
    assert shared.round_trips <= 2 * shared.stats().granted


async def test_try_acquire_grants_only_what_redis_booked(redis_url: str, name: str) -> None:
    b = budget(redis_url, name)
    assert b.try_acquire() is None  # a new budget: nothing booked, and no local token either
    (await b.acquire()).release()  # past the birth pause
    assert b.try_acquire() is None
    await b._call("grant", 0, 2, 0)  # what the pump does for two waiting checks
    assert len(b._held) == 2
    got = []
    for _ in range(40):
        ticket = b.try_acquire()
        if ticket is not None:
            got.append(ticket)
            ticket.release()
        await asyncio.sleep(0.01)
    assert len(got) == 2  # each at its booked time, then none: the next needs a script run
    await b.aclose()


async def test_releases_ride_on_bookings_at_most_one_round_trip_per_grant(
    redis_url: str, name: str
) -> None:
    # Two processes, each keeping waiters queued: every reply's release must reach Redis soon
    # (it frees the window), and it goes with the booking of the next lease, not on a trip of
    # its own (before: 37 trips for 27 grants, 17 of them flushes; B5 at N = 2, 1.3 per grant).
    a, b = budget(redis_url, name), budget(redis_url, name)
    (await a.acquire()).release()  # past the birth pause
    await asyncio.sleep(0.2)
    trips0 = {x: sum(x.trips.values()) for x in (a, b)}
    end = time.monotonic() + 1.5
    served = 0

    async def spend_all(x: RedisBudget) -> None:
        nonlocal served
        while time.monotonic() < end:
            ticket = await x.acquire(Priority.CHECK)
            served += 1  # every grant, the waiters' last ones after the end too
            ticket.release()

    await asyncio.gather(*(spend_all(x) for x in (a, b) for _ in range(6)))
    trips = sum(sum(x.trips.values()) - trips0[x] for x in (a, b))
    flushes = a.trips["flush"] + b.trips["flush"]
    assert served >= 20  # the budget was spent (10 per 1 s)
    assert flushes <= 5, (a.trips, b.trips)
    # About one per grant: a top-up beyond the horizon still carries releases, and is refused.
    assert trips <= 1.2 * served, (trips, served, a.trips, b.trips)
    await a.aclose()
    await b.aclose()


async def test_start_begins_a_new_states_birth_pause_at_once(redis_url: str, name: str) -> None:
    # The runner starts its shared budget before any grant (runner/_settings.warm_up): the
    # pause then runs while it sets up, and the first grant needs no script run of its own.
    b = budget(redis_url, name)
    t0 = time.monotonic()
    await b.start()
    assert b.round_trips == 1
    await b.start()  # once only
    assert b.round_trips == 1
    await asyncio.sleep(BIRTH_S)
    ticket = await b.acquire(Priority.CHECK)
    ticket.release()
    assert time.monotonic() - t0 < BIRTH_S + 0.5  # the pause was spent sleeping, not after
    await b.aclose()
