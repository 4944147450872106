"""The mock's webhook sender: timing, Standard Webhooks signatures the SDK accepts, knobs."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx2
import openai
import pytest

from batchpoll import ConfigurationError
from batchpoll.mock import MockConfig, asgi_client, create_app
from batchpoll.mock._sim import snapshot
from batchpoll.mock._webhooks import sign

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
    app, client = setup(rec, webhook_loss=0.5, webhook_duplicate=0.5, seed=4)
    for i in range(40):
        await client.responses.create(model="m", input=f"x{i}", background=True)
    await asyncio.sleep(120)
    stats = app.state.mock.stats()["webhooks"]
    assert stats["events"] == 40
    assert 5 < stats["lost"] < 35
    assert stats["sent"] == len(rec.got) == 40 - stats["lost"] + stats["duplicated"]
    assert stats["failed"] == stats["sent"]  # the receiver answered 500 every time
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
