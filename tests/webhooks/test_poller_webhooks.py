"""Poller + receiver + mock sending webhooks, in process on virtual time: a push makes a job
due now, a lost one costs one safety interval, never a result."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from openai import AsyncOpenAI

from batchpoll import LoopClock, Poller, PollSettings, Status, WebhookSettings
from batchpoll.mock import FaultWindow, MockConfig, asgi_client, create_app, expected_reply
from batchpoll.webhooks import WebhookReceiver
from tests._virtual import EPOCH

from .conftest import SECRET, virtual_now

pytestmark = pytest.mark.looptime

URL = "http://hooks.local/openai"
SAFETY_S = 60.0


@dataclass
class System:
    app: Any
    client: AsyncOpenAI
    receiver: WebhookReceiver

    def poller(self, **kw: Any) -> Poller:
        kw.setdefault("rpm", 1200)
        kw.setdefault("webhooks", WebhookSettings(safety_interval_s=SAFETY_S))
        poller = Poller(self.client, clock=LoopClock(epoch=EPOCH), seed=1, **kw)
        self.receiver.attach(poller)
        return poller

    def sent(self) -> dict[str, int]:
        stats: dict[str, int] = self.app.state.mock.stats()["webhooks"]
        return stats


@pytest.fixture
async def make_system() -> AsyncIterator[Any]:
    made: list[System] = []

    def factory(**config: Any) -> System:
        receiver = WebhookReceiver(secret=SECRET)
        hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver.app))
        config.setdefault("fail_rate", 0.0)
        app = create_app(
            MockConfig(webhook_url=URL, webhook_secret=SECRET, **config),
            clock=virtual_now,
            webhook_client=hooks,
        )
        made.append(System(app, asgi_client(app), receiver))
        return made[-1]

    yield factory
    for s in made:
        await s.app.state.mock.webhooks.aclose()


async def run(p: Poller, n: int) -> list[Any]:
    jobs = [await p.create_response(model="m", input=f"q{i}", key=str(i)) for i in range(n)]
    return [await j for j in jobs]


def assert_correct(outcomes: list[Any]) -> None:
    for i, o in enumerate(outcomes):
        assert o.status is Status.COMPLETED, o
        assert o.output_text == expected_reply(f"q{i}")


async def test_each_job_costs_create_plus_one_retrieve(make_system: Any) -> None:
    s = make_system(webhook_delay_s=0.2, webhook_delay_jitter_s=0.5)
    async with s.poller() as p:
        outcomes = await run(p, 60)
        stats = p.stats()
    assert_correct(outcomes)
    assert [o.requests for o in outcomes] == [2] * 60
    assert max(o.elapsed_s for o in outcomes) < 20  # not the safety interval: the push
    assert stats.hints == stats.hints_matched == 60
    assert s.receiver.counts["accepted"] == 60


async def test_failed_incomplete_and_cancelled_are_pushed_too(make_system: Any) -> None:
    s = make_system(fail_rate=0.3, incomplete_rate=0.3, seed=5)
    async with s.poller() as p:
        outcomes = await run(p, 30)
    statuses = {o.status for o in outcomes}
    assert statuses == {Status.COMPLETED, Status.FAILED, Status.INCOMPLETE}
    assert all(o.requests == 2 and o.elapsed_s < 30 for o in outcomes)
    for i, o in enumerate(outcomes):
        if o.status is Status.COMPLETED:
            assert o.output_text == expected_reply(f"q{i}")


async def test_lost_events_cost_one_safety_interval_not_a_result(make_system: Any) -> None:
    s = make_system(webhook_loss=0.2, seed=3)
    async with s.poller() as p:
        outcomes = await run(p, 100)
    assert_correct(outcomes)
    lost = s.sent()["lost"]
    assert 8 <= lost <= 35
    slow = [o for o in outcomes if o.elapsed_s >= SAFETY_S * 0.85]
    assert len(slow) == lost  # exactly the jobs whose event was lost waited for the safety net
    assert all(o.requests == 2 for o in outcomes)  # the safety check found them done


async def test_duplicates_and_reordering_act_once(make_system: Any) -> None:
    s = make_system(webhook_duplicate=0.5, webhook_reorder=0.5, webhook_reorder_delay_s=3.0)
    async with s.poller() as p:
        outcomes = await run(p, 60)
    assert_correct(outcomes)
    assert all(o.requests == 2 for o in outcomes)
    await asyncio.sleep(10)  # the last duplicates arrive after every job ended
    sent = s.sent()
    assert sent["duplicated"] > 10
    assert sent["reordered"] > 10
    assert s.receiver.counts["duplicate"] == sent["duplicated"]


async def test_an_event_that_beats_the_create_reply_is_matched(make_system: Any) -> None:
    # Replies take 2 s; the job ends 0.3 s after its create was processed: the event
    # arrives while the create's reply is still on its way.
    s = make_system(latency_ms=2000, duration_median_s=0.2, duration_sigma=0.0, queue_delay_s=0.1)
    async with s.poller() as p:
        job = await p.create_response(model="m", input="q0")
        assert p.stats().hints_matched == 1  # matched the moment the job got its id
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.requests == 2
    assert outcome.elapsed_s == pytest.approx(2.0, abs=0.1)  # the retrieve's own latency


async def test_a_hint_for_an_id_tracked_later_is_kept(make_system: Any) -> None:
    s = make_system()
    async with s.poller() as p:
        assert p.notify_done("resp_unknown") is False
        assert p.stats().hints_pending == 1
    created = await s.client.responses.create(model="m", input="q0", background=True)
    async with s.poller() as p:
        await asyncio.sleep(30)  # the event was delivered to a poller that did not know it
        job = p.track_response(created.id)
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.requests == 1


async def test_pending_hints_expire(make_system: Any) -> None:
    s = make_system()
    async with s.poller(webhooks=WebhookSettings(pending_ttl_s=10)) as p:
        p.notify_done("resp_a")
        await asyncio.sleep(11)
        p.notify_done("resp_b")
        assert p.stats().hints_pending == 1


async def test_assistants_runs_keep_normal_polling(make_system: Any) -> None:
    s = make_system(tool_rate=0.0, duration_sigma=0.0, duration_median_s=4.0)
    async with s.poller() as p:
        job = await p.create_and_run(
            assistant_id="a", thread={"messages": [{"role": "user", "content": "x"}]}
        )
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.elapsed_s < 15  # the learned/backoff schedule, not the 60 s safety net
    assert s.sent()["events"] == 0  # and no webhooks exist for runs


async def test_without_pushes_the_safety_interval_still_finishes_every_job(
    make_system: Any,
) -> None:
    s = make_system(webhook_loss=1.0, duration_median_s=100.0, duration_sigma=0.3)
    async with s.poller() as p:
        outcomes = await run(p, 20)
    assert_correct(outcomes)
    for o in outcomes:  # checks at least 0.9 × the safety interval apart (jitter ±10 %)
        assert 1 <= o.checks <= o.elapsed_s / (0.9 * SAFETY_S) + 0.01


async def test_a_hint_during_a_check_that_saw_it_running_checks_again_at_once(
    make_system: Any,
) -> None:
    # Replies take 1 s. Created (server) at t0, known at t0+1; the safety check at t0+6 is
    # served while the job still runs (it ends at t0+6.2), and its reply comes at t0+7: the
    # event arrived meanwhile, so the next check is at once, not a safety interval later.
    s = make_system(latency_ms=1000, duration_median_s=5.7, duration_sigma=0.0, queue_delay_s=0.5)
    async with s.poller(
        webhooks=WebhookSettings(safety_interval_s=5.0), poll=PollSettings(jitter=0.0)
    ) as p:
        outcome = await (await p.create_response(model="m", input="q0"))
    assert outcome.status is Status.COMPLETED
    assert outcome.requests == 3
    assert outcome.elapsed_s == pytest.approx(7.0, abs=0.05)


async def test_pushes_and_transient_errors_together_still_give_every_result(
    make_system: Any,
) -> None:
    retrieves_fail = [FaultWindow(0, 10_000, "error", 0.3, "get")]  # creates stay certain
    s = make_system(fault_windows=retrieves_fail, webhook_duplicate=0.3, seed=9)
    async with s.poller(rpm=600) as p:
        outcomes = await run(p, 40)
        stats = p.stats()
    assert_correct(outcomes)
    assert stats.transient_errors > 0
    assert max(o.elapsed_s for o in outcomes) < SAFETY_S  # retried checks kept the push


async def test_a_pushed_check_goes_before_the_creates_waiting_for_the_budget(
    make_system: Any,
) -> None:
    # 2 requests a second, 80 creates queued for it at once, jobs of ~1 s whose events come
    # 0.2 s after they end: each pushed job's one retrieve is necessary work, and no share of
    # its token goes to a waiting create (PollSettings.create_share is for contested tokens).
    s = make_system(webhook_delay_s=0.2, duration_median_s=1.0, duration_sigma=0.1, seed=4)
    async with s.poller(rpm=120) as p:
        creates = [p.create_response(model="m", input=f"q{i}", key=str(i)) for i in range(80)]
        outcomes = [await job for job in await asyncio.gather(*creates)]
    assert_correct(outcomes)
    assert all(o.requests == 2 for o in outcomes)
    lag = s.app.state.mock.stats()["detection_lag_s"]
    # The push (0.2 s) and the next token (0.5 s apart) at most (mean 0.50 s, max 0.74 s);
    # with a share for the creates each pushed check waited behind them (1.92 s, 2.18 s).
    assert lag["max"] < 1.5, lag
