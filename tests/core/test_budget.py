from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._virtual import run_virtual

from batchpoll import Budget, BudgetSettings, Priority


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window + 1e-9:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


async def grant_times(budget: Budget, arrivals: list[tuple[float, Priority]]) -> list[float]:
    loop = asyncio.get_running_loop()
    granted: list[float] = []

    async def one(at: float, prio: Priority) -> None:
        await asyncio.sleep(at)
        (await budget.acquire(prio)).release()  # an instant reply
        granted.append(loop.time())

    await asyncio.gather(*(one(at, p) for at, p in arrivals))
    await budget.aclose()
    return granted


@settings(max_examples=40, deadline=None)
@given(
    rpm=st.integers(60, 6000),
    burst=st.integers(1, 5),
    arrivals=st.lists(st.floats(0, 5), min_size=1, max_size=120),
)
def test_never_more_than_the_rate_in_any_window(
    rpm: int, burst: int, arrivals: list[float]
) -> None:
    budget = Budget(BudgetSettings(rpm, burst=burst, headroom=1.0))
    per_s = rpm / 60.0
    times = run_virtual(lambda: grant_times(budget, [(a, Priority.CHECK) for a in arrivals]))
    assert len(times) == len(arrivals)  # everyone is served
    for window in (0.5, 1.0, 3.0):
        assert max_in_window(times, window) <= burst + per_s * window + 1e-6


@pytest.mark.looptime
async def test_quantized_rate_spends_a_minute_evenly() -> None:
    budget = Budget(BudgetSettings(1200, headroom=1.0))
    times = await grant_times(budget, [(0.0, Priority.CHECK)] * 200)
    assert max_in_window(times, 1.0) <= 20
    assert 9.9 <= max(times) - min(times) <= 10.0


@pytest.mark.looptime
async def test_priorities_a_submit_never_waits_behind_creates() -> None:
    budget = Budget(BudgetSettings(600, headroom=1.0))  # one token per 0.1 s
    order: list[str] = []

    async def take(name: str, prio: Priority, at: float) -> None:
        await asyncio.sleep(at)
        await budget.acquire(prio)
        order.append(name)

    await asyncio.gather(
        *(take(f"create{i}", Priority.CREATE, 0.0) for i in range(10)),
        take("check", Priority.CHECK, 0.25),
        take("fetch", Priority.FETCH, 0.25),
        take("submit", Priority.SUBMIT, 0.26),
    )
    await budget.aclose()
    # The first creates go while nothing else waits; from 0.3 s on, the urgent ones jump the queue.
    assert order.index("submit") < order.index("check") < order.index("fetch")
    assert order[:6] == ["create0", "create1", "create2", "submit", "check", "fetch"]
    assert order[-1].startswith("create")


@pytest.mark.looptime
async def test_a_429_pauses_everyone_cuts_the_rate_then_recovers() -> None:
    loop = asyncio.get_running_loop()
    budget = Budget(BudgetSettings(1200, headroom=1.0, recover_every_s=1.0, recover_step=0.1))
    await budget.acquire()
    budget.on_rate_limited(2.0)
    stats = budget.stats()
    assert stats.rate_limited == 1
    assert stats.rate_rpm == pytest.approx(1200 * budget.settings.cut_factor)
    assert stats.paused_s == pytest.approx(2.0)
    t0 = loop.time()
    await budget.acquire()
    assert loop.time() - t0 >= 2.0
    for _ in range(200):  # keep asking: the rate climbs back without further 429s
        await budget.acquire()
    assert budget.stats().rate_rpm == pytest.approx(1200)
    await budget.aclose()


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("limit", "reset", "pause_s"),
    [
        ("600", "0.05s", 0.05),  # the whole quota is back first: wait for that
        ("40", "59.9s", 1.5),  # one request's worth is back long before the whole minute's
    ],
)
async def test_headers_lower_the_limit_and_pause_at_zero_remaining(
    limit: str, reset: str, pause_s: float
) -> None:
    loop = asyncio.get_running_loop()
    budget = Budget(BudgetSettings(1200, headroom=1.0))
    (await budget.acquire()).release()  # its reply is in (unreleased, it would hold 1 + D s)
    headers = {
        "x-ratelimit-limit-requests": limit,
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": reset,
    }
    budget.on_headers(headers)
    assert budget.stats().target_rpm == pytest.approx(int(limit))
    t0 = loop.time()
    await budget.acquire()
    assert pause_s <= loop.time() - t0 < pause_s + 0.5
    await budget.aclose()


@pytest.mark.looptime
async def test_a_server_limit_that_recovers_is_followed_back_up_to_our_rpm() -> None:
    budget = Budget(BudgetSettings(1200, headroom=1.0))
    await budget.acquire()
    budget.on_headers({"x-ratelimit-limit-requests": "120"})  # the limit drops to 10 %
    assert (budget.stats().target_rpm, budget.stats().rate_rpm) == (120, 120)
    budget.on_headers({"x-ratelimit-limit-requests": "6000"})  # back, and more than ours
    assert budget.stats().target_rpm == pytest.approx(1200)  # never above what we were given
    for _ in range(400):  # the rate climbs back gradually, as after a 429
        await budget.acquire()
    assert budget.stats().rate_rpm == pytest.approx(1200)
    await budget.aclose()


@pytest.mark.looptime
async def test_cancelled_waiters_give_their_place_up() -> None:
    budget = Budget(BudgetSettings(60, headroom=1.0))  # one per second
    (await budget.acquire()).release()
    waiter = asyncio.ensure_future(budget.acquire(Priority.SUBMIT))
    await asyncio.sleep(0.1)
    waiter.cancel()
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await budget.acquire(Priority.CREATE)
    assert loop.time() - t0 <= 1.0
    await budget.aclose()


async def server_stamps(
    budget: Budget, arrivals: list[float], delays: list[tuple[float, float]]
) -> list[float]:
    """Each request reaches the server ``to_server`` after its grant (no later than the
    budget's max_send_delay_s) and its reply comes ``to_reply`` later; returns when the
    server counted each one."""
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(at: float, to_server: float, to_reply: float) -> None:
        await asyncio.sleep(at)
        ticket = await budget.acquire()
        await asyncio.sleep(to_server)
        stamps.append(loop.time())
        await asyncio.sleep(to_reply)
        ticket.release()

    await asyncio.gather(*(one(at, a, b) for at, (a, b) in zip(arrivals, delays, strict=True)))
    await budget.aclose()
    return stamps


@settings(max_examples=40, deadline=None)
@given(
    rpm=st.sampled_from([60, 600, 1200, 1000, 3000]),
    data=st.data(),
)
def test_the_server_never_counts_more_than_its_quantum_whatever_the_delays(
    rpm: int, data: st.DataObject
) -> None:
    budget = Budget(BudgetSettings(rpm, burst=3, max_send_delay_s=0.1))
    n = data.draw(st.integers(1, 150))
    arrivals = data.draw(st.lists(st.floats(0, 4), min_size=n, max_size=n))
    delays = data.draw(
        st.lists(st.tuples(st.floats(0, 0.1), st.floats(0, 0.6)), min_size=n, max_size=n)
    )
    stamps = run_virtual(lambda: server_stamps(budget, arrivals, delays))
    assert len(stamps) == n
    assert max_in_window(stamps, 1.0) <= rpm // 60


def test_a_place_that_frees_a_microsecond_later_is_waited_for() -> None:
    # Found by the test above: the third request reached the server one clock tick (1 us)
    # after the first two, so its place in the window frees 1 us after theirs; a pump that
    # called a wait of 1 us "over" let the 11th request of that second out.
    budget = Budget(BudgetSettings(600, burst=3, max_send_delay_s=0.1))
    delays = [(0.0, 0.0), (0.0, 0.0), (1.2e-07, 0.0)] + [(0.0, 0.0)] * 10
    stamps = run_virtual(lambda: server_stamps(budget, [0.0] * 13, delays))
    assert max_in_window(stamps, 1.0) <= 10


@pytest.mark.looptime
async def test_a_stalled_request_keeps_its_place_until_its_reply() -> None:
    # 1,200 RPM is 20 per second at the server. The first request reaches the server 90 ms
    # late (the client or the server stalled); the others at once. A budget that only counts
    # its grants would let the 21st out at 1.0 s, 21 within the server's second [0.09, 1.0].
    budget = Budget(BudgetSettings(1200))
    delays = [(0.09, 0.01)] + [(0.0, 0.002)] * 59
    stamps = await server_stamps(budget, [0.0] * 60, delays)
    assert max_in_window(stamps, 1.0) <= 20
    # Nearby replies cost almost nothing: 60 requests still take about 3 s.
    assert max(stamps) < 3.2


@pytest.mark.looptime
async def test_an_unreleased_ticket_counts_as_arriving_at_the_latest() -> None:
    budget = Budget(BudgetSettings(120, max_send_delay_s=0.25))  # 2 per second
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await budget.acquire()
    await budget.acquire()  # neither is ever released
    (await budget.acquire()).release()
    # The first may reach the server as late as 0.25 s and counts there until 1.25 s.
    assert loop.time() - t0 == pytest.approx(1.25)
    await budget.aclose()


@pytest.mark.looptime
@pytest.mark.parametrize(
    ("share", "creates_among_first_10"), [(0.0, 0), (0.5, 5), (0.75, 7), (1.0, 10)]
)
async def test_waiting_creates_take_their_share_of_the_tokens_checks_would_get(
    share: float, creates_among_first_10: int
) -> None:
    budget = Budget(BudgetSettings(600, headroom=1.0))  # one token per 0.1 s
    order: list[str] = []

    async def take(name: str, prio: Priority) -> None:
        await budget.acquire(prio, create_share=lambda: share)  # read by creates only
        order.append(name)

    (await budget.acquire()).release()  # the bucket is empty: everyone below queues
    await asyncio.gather(
        *(take(f"create{i}", Priority.CREATE) for i in range(12)),
        *(take(f"check{i}", Priority.CHECK) for i in range(12)),
        take("submit", Priority.SUBMIT),
    )
    await budget.aclose()
    assert order[0] == "submit"  # a submit never waits for a create, whatever the share
    first = order[1:11]
    assert sum(name.startswith("create") for name in first) == creates_among_first_10
    # Each class keeps its own order.
    for prefix in ("create", "check"):
        names = [n for n in order if n.startswith(prefix)]
        assert names == [f"{prefix}{i}" for i in range(12)]


@pytest.mark.looptime
async def test_a_share_that_closes_saves_nothing_up_for_a_burst_of_creates() -> None:
    budget = Budget(BudgetSettings(600, headroom=1.0))
    open_share = False
    order: list[str] = []

    def share() -> float:
        return 0.5 if open_share else 0.0

    async def take(name: str, prio: Priority) -> None:
        await budget.acquire(prio, create_share=share)
        order.append(name)

    (await budget.acquire()).release()
    tasks = [asyncio.ensure_future(take(f"check{i}", Priority.CHECK)) for i in range(6)]
    tasks += [asyncio.ensure_future(take(f"create{i}", Priority.CREATE)) for i in range(3)]
    await asyncio.sleep(0.35)  # three checks go while the share is closed
    open_share = True
    await asyncio.gather(*tasks)
    await budget.aclose()
    assert order[:3] == ["check0", "check1", "check2"]
    assert order[3:7] == ["check3", "create0", "check4", "create1"]


@pytest.mark.looptime
async def test_the_head_create_brings_the_share_and_one_without_a_rule_waits() -> None:
    # Two pollers on one budget: each create brings its own poller's rule. The rule of the
    # create at the head of the queue is the one read; a create that brought none (a plain
    # ``acquire(CREATE)``) gets only the tokens nobody else wants.
    budget = Budget(BudgetSettings(600, headroom=1.0))
    order: list[str] = []

    async def take(name: str, prio: Priority, rule: Callable[[], float] | None = None) -> None:
        await budget.acquire(prio, create_share=rule)
        order.append(name)

    (await budget.acquire()).release()
    tasks = [asyncio.ensure_future(take("shared", Priority.CREATE, lambda: 1.0))]
    tasks.append(asyncio.ensure_future(take("bare", Priority.CREATE)))
    tasks += [asyncio.ensure_future(take(f"check{i}", Priority.CHECK)) for i in range(4)]
    await asyncio.gather(*tasks)
    await budget.aclose()
    # The head create's rule gives creates the first token; then the head brought none.
    assert order == ["shared", "check0", "check1", "check2", "check3", "bare"]
    assert not budget._shares  # nothing kept once the waiters are served


def test_a_pause_that_ends_a_hair_after_now_does_not_spin_a_virtual_clock() -> None:
    # A virtual clock that rounds its time never reaches a timer 1e-12 s ahead: a pump that
    # sleeps until such a pause ends spins forever at the same instant (seen in a 429 storm).
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        loop_box.append(loop)
        budget = Budget(BudgetSettings(1200, headroom=1.0))
        await budget.acquire()
        await asyncio.sleep(0.3)  # the bucket has room again: only the pause holds anyone
        budget.on_rate_limited(1e-12)
        t0 = loop.time()
        (await budget.acquire(Priority.CHECK)).release()
        await budget.aclose()
        return loop.time() - t0

    result: list[float] = []
    worker = threading.Thread(target=lambda: result.append(run_virtual(main)), daemon=True)
    worker.start()
    worker.join(10.0)  # real seconds: the whole test takes milliseconds when it works
    if worker.is_alive():
        loop_box[0].call_soon_threadsafe(loop_box[0].stop)
        worker.join(5.0)
        pytest.fail("the budget's pump spun at one instant of virtual time")
    assert result[0] < 0.1
