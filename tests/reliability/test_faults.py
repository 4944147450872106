"""Reliability under faults, core paths: the Poller against the in-process mock, virtual time.

Each test injects one family of faults and checks the same three things: every job ends with
an outcome, every HTTP attempt was charged to the budget (the poller's grants equal the
requests the server received), and no second holds more requests than the budget allows.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from openai import AsyncOpenAI

from batchpoll import LoopClock, Poller, PollSettings, Status, ToolSettings
from batchpoll.mock import FaultWindow
from tests._virtual import EPOCH
from tests.runner._helpers import TOOLS, mock, reply_ok

pytestmark = pytest.mark.looptime


def poller(client: AsyncOpenAI, **kw: Any) -> Poller:
    kw.setdefault("rpm", 1200)
    kw.setdefault("tools", TOOLS)
    return Poller(client, clock=LoopClock(epoch=EPOCH), seed=1, **kw)


def thread(prompt: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}]}


def charged_exactly(p: Poller, server: dict[str, Any], burst: int) -> None:
    """Every request the server saw took a budget token, and no 1 s window held more than
    the account's per-second quantum, 429s and failed attempts included."""
    assert p.budget.stats().granted == server["requests_total"]
    assert p.stats().requests == server["requests_total"]
    assert server["max_received_1s"] <= burst


async def test_429_storm_every_item_finishes_and_the_budget_adapts_and_recovers() -> None:
    # 1,200 RPM; from t = 10 s to 100 s the server allows 120 RPM (10 %), then 1,200 again.
    # The drop makes the last minute's traffic exceed the new limit: the server's first 429
    # asks for a long pause (until its 60 s window has room); tool rounds wait as long as on
    # the real API (10 minutes) before they expire.
    app, client = mock(
        rpm=1200,
        rate_schedule=[(10.0, 120), (100.0, 1200)],
        fail_rate=0.0,
        tool_rate=0.1,
        action_expiry_s=600.0,
        duration_median_s=20.0,
        seed=3,
    )
    loop = asyncio.get_running_loop()
    curve: list[tuple[float, float, float, int]] = []

    async def sample(p: Poller) -> None:
        while True:
            st = p.stats()
            curve.append((loop.time(), st.target_rpm, st.rate_rpm, st.requests))
            await asyncio.sleep(1.0)

    prompts = [f"storm {i}" for i in range(400)]
    async with poller(client) as p:
        sampler = asyncio.ensure_future(sample(p))
        jobs = [await p.create_and_run(assistant_id="a", thread=thread(q)) for q in prompts]
        outcomes = [await j for j in jobs]
        sampler.cancel()
        server = app.state.mock.stats()
        charged_exactly(p, server, burst=20)
        seen = p.stats()
    print("t_s target_rpm rate_rpm requests")
    for t, target, rate, n in curve[::5]:
        print(f"{t:5.0f} {target:7.1f} {rate:7.1f} {n:6d}")
    print(f"429s {server['rate_limited']}, busiest second {server['max_received_1s']}")
    assert all(o.status is Status.COMPLETED for o in outcomes)
    for prompt, o in zip(prompts, outcomes, strict=True):
        assert reply_ok(prompt, o.output_text), o
    assert server["actions_expired"] == 0
    assert seen.rate_limited == server["rate_limited"]
    storm = [(rate, n) for t, _, rate, n in curve if 70 <= t <= 100]
    after = [(target, rate) for t, target, rate, _ in curve if t >= 100]
    assert max(rate for rate, _ in storm) <= 120  # adapted to the server's new limit
    assert storm[-1][1] - storm[0][1] >= 45  # and kept using it (120 RPM: 60 in 30 s)
    assert after[-1][0] == pytest.approx(1200)  # the target is the account's again
    assert max(rate for _, rate in after) >= 0.9 * 1200  # and the rate climbed back


async def test_transient_faults_every_job_ends_and_every_retry_is_charged() -> None:
    # Checks, fetches and submits: 20 % 5xx, 5 % replies cut half-way, 5 % slow (30 s; the
    # client gives up at 5 s), 5 % malformed JSON, and a 10 s burst of nothing but 5xx.
    # Creates: 5 % 5xx (a create that fails so may exist: it is never sent again). Latency up
    # to 250 ms on everything.
    windows = [
        FaultWindow(0.0, 1e9, kind, rate, klass)  # type: ignore[arg-type]
        for kind, rate in (
            ("error", 0.2),
            ("disconnect", 0.05),
            ("slow", 0.05),
            ("malformed", 0.05),
        )
        for klass in ("get", "post")
    ]
    windows += [
        FaultWindow(20.0, 30.0, "error", 1.0, "get"),
        FaultWindow(0, 1e9, "error", 0.05, "create"),
    ]
    app, client = mock(
        rpm=1200,
        slow_ms=30_000,
        latency_ms=50,
        latency_jitter_ms=200,
        fault_windows=windows,
        tool_rate=0.2,
        action_expiry_s=600.0,
        seed=5,
        client_timeout=5.0,
    )
    timeout_s = 120.0
    prompts = [f"fault {i}" for i in range(150)]
    async with poller(client, poll=PollSettings(timeout_s=timeout_s)) as p:
        jobs = [await p.create_and_run(assistant_id="a", thread=thread(q)) for q in prompts]
        outcomes = [await j for j in jobs]
        server = app.state.mock.stats()
        charged_exactly(p, server, burst=20)
        seen = p.stats()
    faults = server["faults"]
    print(f"faults {faults}, transient errors seen {seen.transient_errors}")
    assert {"500", "502", "503", "disconnect", "slow", "malformed"} <= set(faults)
    # Each fault made one failed attempt (a slow reply: a timeout), retried later.
    assert seen.transient_errors >= sum(faults.values()) - faults["slow"]
    statuses = Counter(o.status for o in outcomes)
    print(statuses)
    # Every job ends: completed or failed as the server decided, or, for a create whose
    # answer was lost, an error that says so (it is never sent twice).
    assert set(statuses) <= {Status.COMPLETED, Status.FAILED, Status.ERROR}
    for prompt, o in zip(prompts, outcomes, strict=True):
        assert o.elapsed_s <= timeout_s + 5.0 + 1.0  # the deadline bounds every retry
        if o.ok:
            assert reply_ok(prompt, o.output_text), o
        elif o.status is Status.ERROR:
            assert o.error is not None
            assert o.error.type == "create_uncertain", o
    assert max(app.state.mock.creates_by_metadata("batchpoll_item").values(), default=1) == 1
    assert statuses[Status.COMPLETED] + statuses[Status.FAILED] >= 130


async def test_a_job_whose_checks_always_fail_ends_at_its_deadline() -> None:
    always = FaultWindow(0.0, 1e9, "error", 1.0, request_class="get")  # every retrieve: 5xx
    app, client = mock(rpm=1200, fault_windows=[always], tool_rate=0.0)
    async with poller(client, poll=PollSettings(timeout_s=60.0)) as p:
        outcome = await (await p.create_and_run(assistant_id="a", thread=thread("x")))
        charged_exactly(p, app.state.mock.stats(), burst=20)
    assert outcome.status is Status.TIMED_OUT
    assert 60.0 <= outcome.elapsed_s <= 61.0
    assert outcome.requests <= 12  # create, backed-off checks, cancel: no hammering


class _Opaque:
    def __str__(self) -> str:
        return "opaque value"


async def test_tool_handlers_that_raise_hang_or_return_non_strings() -> None:
    release = threading.Event()

    def hang() -> str:
        release.wait()
        return "never"

    def boom() -> str:
        raise RuntimeError("handler bug")

    behaviours: dict[str, tuple[Callable[[], Any], str]] = {
        # what the handler does -> how the output the model receives ends
        "raise": (boom, "tool 'lookup' failed: RuntimeError: handler bug\"}"),
        "hang": (hang, "tool 'lookup' failed: timeout\"}"),
        "dict": (lambda: {"a": [1, 2]}, '{"a": [1, 2]}'),
        "int": (lambda: 42, "42"),
        "none": (lambda: None, "null"),
        "float": (lambda: 0.5, "0.5"),
        "object": (lambda: {"v": _Opaque()}, '{"v": "opaque value"}'),
        "str": (lambda: "plain", "plain"),
    }

    def lookup(query: str, round: int) -> Any:  # a sync handler: it runs in a thread
        return behaviours[query.split()[0]][0]()

    app, client = mock(rpm=1200, tool_rate=1.0, fail_rate=0.0, action_expiry_s=60.0)
    prompts = [f"{name} {i}" for i in range(2) for name in behaviours]
    tools = ToolSettings(timeout_s=1.0)  # per call
    try:
        async with poller(client, tools={"lookup": lookup}, tool_settings=tools) as p:
            jobs = [await p.create_and_run(assistant_id="a", thread=thread(q)) for q in prompts]
            outcomes = [await j for j in jobs]
    finally:
        release.set()
    for prompt, o in zip(prompts, outcomes, strict=True):
        assert o.status is Status.COMPLETED, o  # the run goes on, the model sees the error
        want = behaviours[prompt.split()[0]][1]
        assert o.output_text is not None
        assert o.output_text.startswith(f"echo: {prompt} | tools: "), o
        assert o.output_text.endswith(want), (o.output_text, want)
    assert app.state.mock.stats()["actions_expired"] == 0
