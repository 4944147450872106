"""The mock's webhook sender: timing, Standard Webhooks signatures the SDK accepts, knobs."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from collections import Counter
from typing import Any

import httpx2
import openai
import pytest

from batchpoll import ConfigurationError, LoopClock, Poller, Status, WebhookSettings
from batchpoll.mock import MockConfig, asgi_client, create_app, expected_reply
from batchpoll.mock._sim import snapshot
from batchpoll.mock._webhook_retry import RetryPolicy
from batchpoll.mock._webhooks import sign
from batchpoll.webhooks import WebhookReceiver
from tests._virtual import EPOCH

from .conftest import SECRET, virtual_now

pytestmark = pytest.mark.looptime

URL = "http://receiver.local/hook"


class Recorder:
    """A receiver that keeps every delivery (body, headers, virtual arrival time)."""

    def __init__(self, status: int = 200) -> None:
        self.got: list[tuple[bytes, dict[str, str], float]] = []
        self.status = status

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.got.append((body, headers, virtual_now()))
        await send({"type": "http.response.start", "status": self.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def setup(recorder: Recorder, **config: Any) -> tuple[Any, openai.AsyncOpenAI]:
    hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=recorder))
    config.setdefault("fail_rate", 0.0)
    app = create_app(
        MockConfig(webhook_url=URL, webhook_secret=SECRET, **config),
        clock=virtual_now,
        webhook_client=hooks,
    )
    return app, asgi_client(app, max_retries=0)


async def test_events_at_terminal_time_signed_as_the_sdk_verifies() -> None:
    rec = Recorder()
    app, client = setup(rec, duration_sigma=0.0, duration_median_s=3.0, queue_delay_s=0.5)
    created = [
        await client.responses.create(model="m", input=f"x{i}", background=True) for i in range(3)
    ]
    await asyncio.sleep(10)
    assert len(rec.got) == 3
    verifier = openai.AsyncOpenAI(api_key="unused")
    for body, headers, arrived in rec.got:
        event = verifier.webhooks.unwrap(body, headers, secret=SECRET)
        assert event.type == "response.completed"
        assert arrived == pytest.approx(virtual_now() - 10 + 3.5, abs=0.01)
        raw = json.loads(body)
        assert raw["object"] == "event"
        assert raw["id"].startswith("evt_")
        assert headers["webhook-id"].startswith("wh_")
    assert {json.loads(b)["data"]["id"] for b, _, _ in rec.got} == {r.id for r in created}
    stats = app.state.mock.stats()["webhooks"]
    assert (stats["events"], stats["sent"], stats["lost"], stats["pending"]) == (3, 3, 0, 0)
    await app.state.mock.webhooks.aclose()


async def test_a_tampered_body_or_wrong_secret_fails_the_sdk_check() -> None:
    body = b'{"id":"evt_1","object":"event","created_at":1,"type":"response.completed"}'
    ts = int(virtual_now())
    headers = {"webhook-id": "wh_1", "webhook-timestamp": str(ts)}
    headers["webhook-signature"] = sign(SECRET, "wh_1", ts, body)
    verifier = openai.AsyncOpenAI(api_key="unused")
    verifier.webhooks.unwrap(body, headers, secret=SECRET)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        verifier.webhooks.unwrap(body + b" ", headers, secret=SECRET)
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUA=="
    with pytest.raises(openai.InvalidWebhookSignatureError):
        verifier.webhooks.unwrap(body, headers, secret=other)


async def test_loss_duplicates_and_failures_are_counted() -> None:
    rec = Recorder(status=500)
    app, client = setup(rec, webhook_loss=0.5, webhook_duplicate=0.5, seed=4, webhook_retry_for_s=0)
    for i in range(40):
        await client.responses.create(model="m", input=f"x{i}", background=True)
    await asyncio.sleep(120)
    stats = app.state.mock.stats()["webhooks"]
    assert stats["events"] == 40
    assert 5 < stats["lost"] < 35
    assert stats["sent"] == len(rec.got) == 40 - stats["lost"] + stats["duplicated"]
    assert stats["failed"] == stats["sent"] == stats["gave_up"]  # 500 every time, no retry
    assert stats["attempts_per_event"] == {
        "1": 40 - stats["lost"] - stats["duplicated"],
        "2": stats["duplicated"],
    }
    ids = [h["webhook-id"] for _, h, _ in rec.got]
    assert len(set(ids)) == 40 - stats["lost"]  # a duplicate keeps its webhook-id
    await app.state.mock.webhooks.aclose()


async def test_cancel_sends_cancelled_and_drops_the_completion() -> None:
    rec = Recorder()
    app, client = setup(rec, duration_sigma=0.0, duration_median_s=30.0)
    resp = await client.responses.create(model="m", input="x", background=True)
    await asyncio.sleep(1)
    await client.responses.cancel(resp.id)
    await asyncio.sleep(60)
    assert [json.loads(b)["type"] for b, _, _ in rec.got] == ["response.cancelled"]
    assert app.state.mock.stats()["webhooks"]["superseded"] == 1
    await app.state.mock.webhooks.aclose()


async def test_reorder_lets_later_events_overtake() -> None:
    rec = Recorder()
    app, client = setup(rec, webhook_reorder=0.5, webhook_reorder_delay_s=20.0, seed=2)
    ids = [
        (await client.responses.create(model="m", input=f"x{i}", background=True)).id
        for i in range(30)
    ]
    await asyncio.sleep(200)
    records = app.state.mock.responses.responses
    finished = sorted(ids, key=lambda i: snapshot(records[i].job, math.inf).terminal_at)
    arrived = [json.loads(b)["data"]["id"] for b, _, _ in rec.got]
    assert sorted(arrived) == sorted(ids)
    assert arrived != finished
    assert app.state.mock.stats()["webhooks"]["reordered"] > 0
    await app.state.mock.webhooks.aclose()


async def test_no_url_no_webhooks_and_the_secret_is_never_echoed() -> None:
    app = create_app(MockConfig(), clock=virtual_now)
    client = asgi_client(app)
    await client.responses.create(model="m", input="x", background=True)
    assert app.state.mock.stats()["webhooks"]["events"] == 0
    rec = Recorder()
    app, _ = setup(rec)
    assert app.state.mock.config_json()["webhook_secret"] == "***"
    with pytest.raises(ConfigurationError):
        MockConfig(webhook_url=URL)  # unsigned webhooks are not OpenAI's
    with pytest.raises(ConfigurationError):
        MockConfig(webhook_loss=1.5)


async def test_webhook_settings_change_live_through_the_control_route() -> None:
    rec = Recorder()
    app, _ = setup(rec)
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://m")
    reply = await http.post("/_mock/config", json={"webhook_loss": 1.0, "webhook_delay_s": 2})
    assert reply.status_code == 200
    assert (reply.json()["webhook_loss"], reply.json()["webhook_secret"]) == (1.0, "***")
    bad = await http.post("/_mock/config", json={"webhook_url": 5})
    assert bad.status_code == 400
    await http.aclose()


class Flaky:
    """In front of batchpoll's WebhookReceiver: per webhook-id, attempt 1 gets a 500 and never
    reaches it; attempt 2 reaches it (acted on) but the reply hangs past the mock's timeout;
    attempt 3 and later are passed through."""

    def __init__(self, receiver: Any, hang_s: float) -> None:
        self.receiver = receiver
        self.hang_s = hang_s
        self.attempts: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        n = self.attempts[headers["webhook-id"]] = self.attempts[headers["webhook-id"]] + 1
        if n == 1:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if n == 2:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.receiver.handle(body, headers)
            await asyncio.sleep(self.hang_s)  # the mock gives up waiting first
            return
        await self.receiver(scope, receive, send)


async def test_a_receiver_that_fails_its_first_two_attempts_gets_every_event_once() -> None:
    receiver = WebhookReceiver(secret=SECRET)
    flaky = Flaky(receiver, hang_s=30.0)
    hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=flaky))
    app = create_app(
        MockConfig(
            webhook_url=URL, webhook_secret=SECRET, fail_rate=0.0, tool_rate=0.0,
            webhook_timeout_s=2.0, webhook_retry_scale=0.1,
        ),
        clock=virtual_now,
        webhook_client=hooks,
    )  # fmt: skip
    client = asgi_client(app, max_retries=0)
    async with Poller(
        client,
        clock=LoopClock(epoch=EPOCH),
        seed=1,
        rpm=1200,
        webhooks=WebhookSettings(safety_interval_s=600.0),
    ) as p:
        receiver.attach(p)
        jobs = [await p.create_response(model="m", input=f"q{i}", key=str(i)) for i in range(30)]
        outcomes = [await j for j in jobs]
        stats = p.stats()
    for i, o in enumerate(outcomes):
        assert o.status is Status.COMPLETED
        assert o.output_text == expected_reply(f"q{i}")
    assert max(o.elapsed_s for o in outcomes) < 60  # pushed, not found by the safety check
    assert stats.hints == stats.hints_matched == 30
    await asyncio.sleep(5)  # the last retries
    assert receiver.counts["accepted"] == 30  # verified and acted on once per event
    assert receiver.counts["duplicate"] == 30  # attempt 3 repeats what attempt 2 delivered
    assert set(flaky.attempts.values()) == {3}
    sent = app.state.mock.stats()["webhooks"]
    assert sent["attempts_per_event"] == {"3": 30}
    assert (sent["sent"], sent["delivered"], sent["failed"]) == (90, 30, 60)
    assert (sent["timeouts"], sent["retries"], sent["gave_up"], sent["pending"]) == (30, 60, 0, 0)
    await app.state.mock.webhooks.aclose()


async def test_retries_follow_the_backoff_for_72_hours_compressed() -> None:
    rec = Recorder(status=503)
    scale = 0.001  # 72 h in 259.2 s
    app, client = setup(rec, duration_sigma=0.0, webhook_retry_scale=scale)
    await client.responses.create(model="m", input="x", background=True)
    await asyncio.sleep(400)
    times = [arrived for _, _, arrived in rec.got]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    expected, total = [], 0.0
    policy = RetryPolicy(scale)
    while True:
        gap = policy.gap_s(len(expected) + 1)
        if total + gap > 72 * 3600 * scale:
            break
        expected.append(gap)
        total += gap
    assert gaps == pytest.approx(expected, abs=1e-5)
    assert gaps[:3] == pytest.approx([0.005, 0.010, 0.020], abs=1e-5)  # 5 s, 10 s, 20 s, scaled
    assert max(gaps) == pytest.approx(12 * 3600 * scale)
    assert len({h["webhook-id"] for _, h, _ in rec.got}) == 1  # one event, retried
    assert len({h["webhook-signature"] for _, h, _ in rec.got}) > 1  # signed at each send
    stats = app.state.mock.stats()["webhooks"]
    assert stats["attempts_per_event"] == {str(len(times)): 1}
    assert (stats["gave_up"], stats["delivered"], stats["pending"]) == (1, 0, 0)
    await app.state.mock.webhooks.aclose()
