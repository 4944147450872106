"""Webhooks of a function-call chain: one event per response, for the response it names."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx2
import pytest

from batchpoll.mock import MockConfig, asgi_client, create_app

from .conftest import virtual_now

pytestmark = pytest.mark.looptime

SECRET = "whsec_" + base64.b64encode(b"chain-secret").decode()
TOOL: dict[str, Any] = {"type": "function", "name": "lookup"}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []  # (type, data.id, arrival)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        event = json.loads(body)
        self.events.append((event["type"], event["data"]["id"], virtual_now()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.mark.parametrize("cancel", [False, True])
async def test_every_response_of_a_chain_is_announced(cancel: bool) -> None:
    rec = Recorder()
    config = MockConfig(
        webhook_url="http://receiver.local/hook",
        webhook_secret=SECRET,
        fail_rate=0.0,
        tool_rate=1.0,
        max_tool_rounds=1,
        duration_median_s=6.0,
        duration_sigma=0.0,
        queue_delay_s=0.5,
        parallel_calls_rate=0.0,
    )
    hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=rec))
    app = create_app(config, clock=virtual_now, webhook_client=hooks)
    client = asgi_client(app, max_retries=0)
    t0 = virtual_now()
    root = await client.responses.create(model="m", input="q", background=True, tools=[TOOL])  # type: ignore[list-item]
    await asyncio.sleep(4)
    asked = await client.responses.retrieve(root.id)
    (call,) = [item for item in asked.output if item.type == "function_call"]

    async def continuation() -> str:
        created = await client.responses.create(
            model="m",
            background=True,
            previous_response_id=root.id,
            tools=[TOOL],  # type: ignore[list-item]
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "r"}],
        )
        return created.id

    last = await continuation()
    if cancel:
        await client.responses.cancel(last)
    await asyncio.sleep(10)
    kind = "response.cancelled" if cancel else "response.completed"
    assert [(kind, rid) for kind, rid, _ in rec.events] == [
        ("response.completed", root.id),
        (kind, last),
    ]
    assert rec.events[0][2] - t0 == pytest.approx(3.5)  # when the root asked its call
    assert rec.events[1][2] - t0 == pytest.approx(4 if cancel else 4 + 0.5 + 3)
    assert app.state.mock.stats()["webhooks"]["superseded"] == int(cancel)
    await app.state.mock.webhooks.aclose()
    await client.close()
    await hooks.aclose()
