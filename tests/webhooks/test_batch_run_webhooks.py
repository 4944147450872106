"""``--via batch`` with ``--webhook-listen``: OpenAI's ``batch.completed`` events make the run's
batches due at once; the learned schedule is only the safety net."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx2
import pytest

from batchpoll import LoopClock, WebhookSettings
from batchpoll.mock import MockConfig, asgi_client, create_app
from batchpoll.runner import BatchSettings, run_items
from batchpoll.webhooks import WebhookReceiver
from tests._virtual import EPOCH
from tests.runner._helpers import API_KEY, write_lines
from tests.runner.test_batch_mode import FAST, lines, via_batch

from .conftest import SECRET

pytestmark = pytest.mark.looptime


async def test_batch_webhooks_are_hints_in_a_batch_run(tmp_path: Path) -> None:
    """With webhooks, a batch is checked once its batch.completed event arrives, not on
    its learned schedule (here a prior of ten hours: without the event, hours late)."""
    receiver = WebhookReceiver(secret=SECRET)
    hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=receiver.app))
    loop = asyncio.get_running_loop()
    app = create_app(
        MockConfig(**FAST, webhook_url="http://hooks.local/", webhook_secret=SECRET),
        clock=lambda: EPOCH + loop.time(),
        webhook_client=hooks,
    )
    client = asgi_client(app, api_key=API_KEY)
    write_lines(tmp_path / "in.jsonl", lines(10))
    s = replace(
        via_batch(tmp_path, max_lines=5),
        batch=BatchSettings(max_lines=5, expect_s=36_000),
        webhooks=WebhookSettings(),
    )

    @contextlib.asynccontextmanager
    async def serve(poller: Any) -> AsyncIterator[None]:
        receiver.attach(poller)
        yield

    start = loop.time()
    summary = await run_items(s, client, clock=LoopClock(epoch=EPOCH), serve=serve)
    assert summary.completed == 10
    assert loop.time() - start < 120  # the batches end at about 70 s
    assert receiver.counts["accepted"] == 3  # batch.completed of each batch
    assert app.state.mock.stats()["webhooks"]["delivered"] == 3
    await app.state.mock.webhooks.aclose()
    await hooks.aclose()
