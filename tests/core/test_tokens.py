from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._virtual import run_virtual

from batchpoll import ConfigurationError, Priority
from batchpoll._tokens import RequestTooLargeError, TokenBudget, TokenSettings

CREATE, SUBMIT = Priority.CREATE, Priority.SUBMIT


def quiet(tpm: float, **kw: float) -> TokenBudget:
    """A budget that starts empty and sends no probe: every grant waits for refill."""
    return TokenBudget(TokenSettings(tpm, initial_s=0.0, probe=False, **kw))  # type: ignore[arg-type]


def tokens_headers(remaining: int, limit: int | None = None) -> dict[str, str]:
    headers = {"x-ratelimit-remaining-tokens": str(remaining)}
    if limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(limit)
    return headers


# --- a server bucket of the documented shape, and the property ----------------------------


class ServerBucket:
    """Capacity ``limit``, refilled continuously at limit / 60 per second; a request fits or
    is refused (429, not charged). Replies report what remains, as OpenAI's headers do."""

    def __init__(self, limit: int, level: float) -> None:
        self.limit, self.level, self.at = limit, level, 0.0

    def _refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + self.limit / 60.0 * (now - self.at))
        self.at = now

    def count(self, now: float, cost: int) -> bool:
        self._refill(now)
        if self.level + 1e-6 < cost:
            return False
        self.level -= cost
        return True

    def headers(self) -> dict[str, str]:
        reset_s = (self.limit - self.level) / (self.limit / 60.0)
        return {
            **tokens_headers(math.floor(self.level), self.limit),
            "x-ratelimit-reset-tokens": f"{reset_s:.3f}s",
        }


@dataclass
class Call:
    at: float
    cost: int
    submit: bool
    to_server_s: float  # grant -> the server counts it
    reply_s: float  # the server counts it -> the reply is in
    headers: bool  # the reply carries token headers


async def drive(budget: TokenBudget, server: ServerBucket, calls: list[Call]) -> list[int]:
    """Every call reserves, reaches the server after its delay, and settles (or, refused,
    refunds and retries after the pause, as the engine does). Returns the refused costs."""
    loop = asyncio.get_running_loop()
    refused: list[int] = []

    async def one(call: Call) -> None:
        await asyncio.sleep(call.at)
        while True:
            grant = await budget.reserve("m", call.cost, SUBMIT if call.submit else CREATE)
            await asyncio.sleep(call.to_server_s)
            ok = server.count(loop.time(), call.cost)
            headers = server.headers() if call.headers else {}
            await asyncio.sleep(call.reply_s)
            if ok:
                grant.settle(call.cost, headers=headers)
                return
            refused.append(call.cost)
            grant.refund(headers=headers)
            budget.on_rate_limited("m", None)

    async with asyncio.timeout(10_000):  # a deadlock fails instead of hanging
        await asyncio.gather(*(one(c) for c in calls))
    await budget.aclose()
    return refused


def calls_of(limit: int) -> st.SearchStrategy[list[Call]]:
    call = st.builds(
        Call,
        at=st.floats(0, 30),
        cost=st.integers(1, limit),
        submit=st.booleans(),
        to_server_s=st.floats(0, 0.5),
        reply_s=st.floats(0, 0.5),
        headers=st.booleans(),
    )
    return st.lists(call, min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    limit=st.integers(600, 60_000),
    share=st.floats(0.5, 1.0),
    initial_s=st.floats(0, 3),
)
def test_grants_never_exceed_a_server_bucket_that_starts_full(
    data: st.DataObject, limit: int, share: float, initial_s: float
) -> None:
    calls = data.draw(calls_of(math.floor(limit * share)))
    budget = TokenBudget(TokenSettings(limit * share, initial_s=initial_s))
    server = ServerBucket(limit, level=limit)
    assert run_virtual(lambda: drive(budget, server, calls)) == []
    stats = budget.stats()
    assert stats.reserved == sum(c.cost for c in calls)
    assert stats.models["m"].outstanding == 0


@settings(max_examples=40, deadline=None)
@given(data=st.data(), limit=st.integers(600, 60_000))
def test_a_server_that_starts_empty_costs_at_most_the_first_seconds(
    data: st.DataObject, limit: int
) -> None:
    calls = data.draw(calls_of(limit))
    budget = TokenBudget(TokenSettings(limit, initial_s=1.0))
    refused = run_virtual(lambda: drive(budget, ServerBucket(limit, level=0.0), calls))
    # Only what went before the server's first answer: the probe, the first second's
    # refill, and what refilled while those were in flight (at most 1 s).
    assert sum(refused) <= max(c.cost for c in calls) + 2 * limit / 60.0 + 1


@pytest.mark.looptime
async def test_against_a_full_server_the_whole_minute_is_used_after_the_first_reply() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(60_000, initial_s=1.0))
    server = ServerBucket(60_000, level=60_000)
    calls = [Call(0.0, 1000, False, 0.01, 0.01, True) for _ in range(59)]
    assert await drive(budget, server, calls) == []
    assert loop.time() < 0.1  # no refill needed: 59,000 of 60,000 were there


# --- waiting: priority, FIFO, cancel ------------------------------------------------------


async def taker(
    budget: TokenBudget, order: list[str], name: str, tokens: int, prio: Priority, at: float
) -> None:
    await asyncio.sleep(at)
    await budget.reserve("m", tokens, prio)
    order.append(name)


@pytest.mark.looptime
async def test_a_continuation_waiting_behind_creates_goes_first() -> None:
    budget = quiet(6000)  # 100 tokens per second
    order: list[str] = []
    await asyncio.gather(
        *(taker(budget, order, f"create{i}", 100, CREATE, 0.0) for i in range(4)),
        taker(budget, order, "continuation", 100, SUBMIT, 0.5),
    )
    assert order == ["continuation", "create0", "create1", "create2", "create3"]
    await budget.aclose()


@pytest.mark.looptime
async def test_fifo_within_a_class_a_large_create_is_not_overtaken() -> None:
    loop = asyncio.get_running_loop()
    budget = quiet(6000)
    order: list[str] = []
    times: dict[str, float] = {}

    async def one(name: str, tokens: int) -> None:
        await budget.reserve("m", tokens, CREATE)
        order.append(name)
        times[name] = loop.time()

    await asyncio.gather(one("large", 300), one("small", 50))
    assert order == ["large", "small"]
    assert times["large"] == pytest.approx(3.0, abs=1e-3)
    assert times["small"] == pytest.approx(3.5, abs=1e-3)
    await budget.aclose()


@pytest.mark.looptime
async def test_models_are_separate_budgets() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(6000, per_model_tpm={"big": 600_000}, initial_s=1.0))
    await budget.reserve("big", 9000)  # 1 s of its own refill is 10,000
    await budget.reserve("small", 100)  # 1 s of 100 per second
    assert loop.time() == pytest.approx(0.0)
    stats = budget.stats()
    assert (stats.models["big"].limit_tpm, stats.models["small"].limit_tpm) == (600_000, 6000)
    await budget.aclose()


@pytest.mark.looptime
async def test_a_cancelled_waiter_gives_its_place_up() -> None:
    budget = quiet(6000)
    order: list[str] = []
    first = asyncio.create_task(taker(budget, order, "first", 100, CREATE, 0.0))
    second = asyncio.create_task(taker(budget, order, "second", 100, CREATE, 0.0))
    await asyncio.sleep(0.5)
    first.cancel()
    await asyncio.sleep(0.6)  # 1.1 s: the 100 tokens of 1.0 s went to the second
    assert order == ["second"]
    assert first.cancelled()
    assert budget.waiting() == 0
    await second
    await budget.aclose()


@pytest.mark.looptime
async def test_a_waiter_cancelled_as_it_is_granted_gives_the_tokens_back() -> None:
    budget = TokenBudget(TokenSettings(6000, initial_s=1.0, probe=False))
    held = await budget.reserve("m", 100)  # all there is; the cap waits for this to close
    waiter = asyncio.create_task(budget.reserve("m", 100))
    await asyncio.sleep(0)
    held.refund()  # wakes the pump, which grants the waiter its 100 ...
    await asyncio.sleep(0)
    waiter.cancel()  # ... before the waiter runs again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    stats = budget.stats().models["m"]
    assert stats.outstanding == 0
    assert stats.level == pytest.approx(100)  # nothing leaked, whichever came first
    await budget.aclose()


# --- pauses, too large, refunds -----------------------------------------------------------


@pytest.mark.looptime
async def test_a_token_429_pauses_only_that_model_and_empties_it() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(60_000, initial_s=2.0))
    grant = await budget.reserve("m", 100)
    grant.refund()
    budget.on_rate_limited("m", 2.0)
    stats = budget.stats()
    assert stats.rate_limited == 1
    assert stats.models["m"].level <= 0
    assert stats.models["m"].paused_s == pytest.approx(2.0)
    t0 = loop.time()
    await budget.reserve("other", 100)  # another model goes on
    assert loop.time() == t0
    await budget.reserve("m", 100)
    assert loop.time() - t0 >= 2.0
    await budget.aclose()


@pytest.mark.looptime
async def test_a_429_without_retry_after_pauses_the_default() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(600_000, default_pause_s=1.5))
    budget.on_rate_limited("m", None)
    await budget.reserve("m", 1)
    assert loop.time() >= 1.5


@pytest.mark.looptime
async def test_larger_than_the_limit_is_refused_at_once() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(1000))
    with pytest.raises(RequestTooLargeError) as caught:
        await budget.reserve("m", 1001)
    assert loop.time() == 0.0
    assert caught.value.error_info().type == "request_too_large"
    assert "1001" in caught.value.error_info().message
    assert budget.stats().too_large == 1
    await budget.reserve("m", 1000)  # the whole limit itself fits (after refill)


@pytest.mark.looptime
async def test_a_lowered_limit_refuses_a_waiter_that_can_no_longer_fit() -> None:
    budget = quiet(6000)
    waiter = asyncio.create_task(budget.reserve("m", 3000))
    await asyncio.sleep(1)
    budget.on_headers("m", {"x-ratelimit-limit-tokens": "2000"})
    with pytest.raises(RequestTooLargeError):
        await waiter
    assert budget.stats().models["m"].too_large == 1
    await budget.aclose()


@pytest.mark.looptime
async def test_a_refund_gives_the_tokens_back_and_settle_is_once_only() -> None:
    budget = TokenBudget(TokenSettings(6000, initial_s=1.0, probe=False))  # level 100
    grant = await budget.reserve("m", 80)
    assert budget.stats().models["m"].level == pytest.approx(20)
    grant.refund()
    grant.refund()
    grant.settle(80)  # closed already: nothing happens
    stats = budget.stats().models["m"]
    assert stats.level == pytest.approx(100)
    assert (stats.reserved, stats.refunded, stats.spent, stats.outstanding) == (0, 80, 0, 0)


@pytest.mark.looptime
async def test_the_level_never_passes_capacity_less_what_is_outstanding() -> None:
    budget = TokenBudget(TokenSettings(6000, initial_s=60.0, probe=False))
    held = await budget.reserve("m", 5000)
    await asyncio.sleep(120)
    assert budget.stats().models["m"].level == pytest.approx(1000)
    held.settle()
    await asyncio.sleep(60)
    assert budget.stats().models["m"].level == pytest.approx(6000)


# --- learning from headers ----------------------------------------------------------------


@pytest.mark.looptime
async def test_the_probe_goes_at_once_and_its_reply_sets_the_level() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(60_000, initial_s=0.0))
    probe = await budget.reserve("m", 3000)  # nothing in the bucket, but nothing known either
    assert loop.time() == 0.0
    second = asyncio.create_task(budget.reserve("m", 3000))
    await asyncio.sleep(0.1)
    assert not second.done()  # one probe only
    probe.settle(2500, headers=tokens_headers(57_000, 60_000))
    await second
    assert loop.time() == pytest.approx(0.1)
    assert budget.stats().models["m"].level == pytest.approx(54_000)


@pytest.mark.looptime
async def test_remaining_sets_the_level_less_what_the_server_may_not_have_counted() -> None:
    budget = TokenBudget(TokenSettings(60_000, initial_s=60.0))
    first = await budget.reserve("m", 1000)
    second = await budget.reserve("m", 2000)
    third = await budget.reserve("m", 4000)
    second.settle(headers=tokens_headers(50_000))  # answered after `first` was granted
    level = budget.stats().models["m"].level
    assert level == pytest.approx(50_000 - 1000 - 4000)  # open: first, third
    first.settle(headers=tokens_headers(40_000))
    # the server may have counted `second` after `first`: it is held back too
    assert budget.stats().models["m"].level == pytest.approx(40_000 - 4000 - 2000)
    fourth = await budget.reserve("m", 100)  # granted after `second` was answered
    fourth.settle(headers=tokens_headers(30_000))
    assert budget.stats().models["m"].level == pytest.approx(30_000 - 4000)
    third.settle()
    await budget.aclose()


@pytest.mark.looptime
async def test_headers_of_a_check_only_lower_the_level() -> None:
    budget = TokenBudget(TokenSettings(60_000, initial_s=10.0))  # 10,000
    held = await budget.reserve("m", 1000)
    budget.on_headers("m", tokens_headers(50_000))  # more than we have: ignored
    assert budget.stats().models["m"].level == pytest.approx(9000)
    budget.on_headers("m", tokens_headers(3000))
    assert budget.stats().models["m"].level == pytest.approx(2000)
    budget.on_headers("m", {"x-ratelimit-remaining-tokens": "-1"})  # Azure's oddity: nothing
    assert budget.stats().models["m"].level == pytest.approx(2000)
    held.settle()


@pytest.mark.looptime
async def test_reset_without_remaining_only_lowers() -> None:
    budget = TokenBudget(TokenSettings(60_000, initial_s=30.0))  # 30,000
    budget.on_headers("m", {"x-ratelimit-reset-tokens": "45s"})  # 3/4 empty: 15,000 there
    assert budget.stats().models["m"].level == pytest.approx(15_000)
    budget.on_headers("m", {"x-ratelimit-reset-tokens": "1s"})
    assert budget.stats().models["m"].level == pytest.approx(15_000)


@pytest.mark.looptime
async def test_the_limit_follows_the_server_down_and_up_never_above_ours() -> None:
    budget = TokenBudget(TokenSettings(60_000, initial_s=60.0, headroom=0.5))
    budget.on_headers("m", {"x-ratelimit-limit-tokens": "6000"})
    stats = budget.stats().models["m"]
    assert (stats.limit_tpm, stats.tpm, stats.level) == (6000, 3000, pytest.approx(3000))
    budget.on_headers("m", {"x-ratelimit-limit-tokens": "30000"})
    assert budget.stats().models["m"].limit_tpm == 30_000
    budget.on_headers("m", {"x-ratelimit-limit-tokens": "900000"})
    assert budget.stats().models["m"].limit_tpm == 60_000
    await asyncio.sleep(120)
    assert budget.stats().models["m"].level == pytest.approx(30_000)  # capacity × headroom


@pytest.mark.looptime
async def test_a_request_over_our_share_but_within_the_limit_waits_for_a_full_bucket() -> None:
    loop = asyncio.get_running_loop()
    budget = TokenBudget(TokenSettings(6000, headroom=0.5, initial_s=0.0, probe=False))
    await budget.reserve("m", 4000)  # capacity 3000, limit 6000
    assert loop.time() == pytest.approx(60.0)  # 3000 at 50 per second


# --- usage --------------------------------------------------------------------------------


@pytest.mark.looptime
async def test_usage_corrects_estimates_only_where_no_token_header_is_seen() -> None:
    budget = TokenBudget(TokenSettings(600_000, initial_s=60.0, usage_weight=0.5))
    for _ in range(3):
        (await budget.reserve("plain", 1000)).settle(3000)  # real usage 3x: clamped to 2x
    stats = budget.stats().models["plain"]
    assert stats.usage_ratio == pytest.approx(1 + 0.5 + 0.25 + 0.125)
    assert stats.spent == 9000
    grant = await budget.reserve("plain", 1000)
    assert grant.tokens == math.ceil(1000 * stats.usage_ratio)
    assert grant.estimate == 1000
    grant.settle()

    informed = await budget.reserve("told", 1000)
    informed.settle(3000, headers=tokens_headers(500_000))
    assert (await budget.reserve("told", 1000)).tokens == 1000  # the server's count rules
    totals = budget.stats()
    assert totals.spent == 12_000
    assert totals.models["told"].informed
    assert not totals.models["plain"].informed


def test_settings_reject_nonsense() -> None:
    for bad in (
        {"tpm": 0},
        {"tpm": math.inf},
        {"tpm": 100, "per_model_tpm": {"m": -1}},
        {"tpm": 100, "headroom": 0},
        {"tpm": 100, "initial_s": -1},
        {"tpm": 100, "usage_ratio_min": 1.5},
    ):
        with pytest.raises(ConfigurationError):
            TokenSettings(**bad)  # type: ignore[arg-type]
    frozen = TokenSettings(100, per_model_tpm={"m": 5})
    with pytest.raises(TypeError):
        frozen.per_model_tpm["m"] = 6  # type: ignore[index]


@pytest.mark.looptime
async def test_negative_tokens_are_misuse() -> None:
    with pytest.raises(ConfigurationError):
        await TokenBudget(100).reserve("m", -1)
