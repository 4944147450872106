"""Webhooks of batches and fine-tuning jobs: ``batch.*`` and ``fine_tuning.job.*`` events
naming the object, at its end, superseded by a cancel."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

from batchpoll.mock import MockConfig, asgi_client, create_app

from .conftest import virtual_now
from .test_chain_webhooks import SECRET, Recorder

pytestmark = pytest.mark.looptime

LINE = b'{"custom_id": "a", "method": "POST", "url": "/v1/responses", "body": {"model": "m"}}\n'


async def test_batches_and_fine_tuning_jobs_announce_their_end() -> None:
    rec = Recorder()
    config = MockConfig(
        webhook_url="http://receiver.local/hook",
        webhook_secret=SECRET,
        batch_validating_s=1,
        batch_in_progress_s=5,
        batch_finalizing_s=1,
        batch_expire_nth=(2,),
        fine_tune_duration_s=10,
        cancel_delay_s=1,
    )
    hooks = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=rec))
    app = create_app(config, clock=virtual_now, webhook_client=hooks)
    client = asgi_client(app, max_retries=0)
    t0 = virtual_now()
    file = await client.files.create(file=("in.jsonl", LINE), purpose="batch")
    batches = [
        await client.batches.create(
            input_file_id=file.id, endpoint="/v1/responses", completion_window="24h"
        )
        for _ in range(3)
    ]
    await client.batches.cancel(batches[2].id)  # its completion is superseded
    job = await client.fine_tuning.jobs.create(model="m", training_file=file.id)
    await asyncio.sleep(12)
    assert sorted((kind, oid) for kind, oid, _ in rec.events) == sorted(
        [
            ("batch.completed", batches[0].id),
            ("batch.expired", batches[1].id),
            ("batch.cancelled", batches[2].id),
            ("fine_tuning.job.succeeded", job.id),
        ]
    )
    arrival = {oid: at - t0 for _, oid, at in rec.events}
    assert arrival[batches[0].id] == pytest.approx(7)  # validating + lines + finalizing
    assert arrival[batches[1].id] == pytest.approx(6)  # expired when the lines would be done
    assert arrival[batches[2].id] == pytest.approx(1)  # cancelled at once, + cancel_delay_s
    assert app.state.mock.stats()["webhooks"]["superseded"] == 1
    await app.state.mock.webhooks.aclose()
    await client.close()
    await hooks.aclose()
