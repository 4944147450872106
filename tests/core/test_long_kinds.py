"""Batches, fine-tuning jobs and vector-store file batches tracked to their end against the
in-process mock, in virtual time: outcomes, results, and checks on a schedule of minutes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI
from tests._virtual import EPOCH, virtual_mock

from batchpoll import KindTiming, LoopClock, Poller, Status
from batchpoll.kinds import BatchJobs

pytestmark = pytest.mark.looptime


def poller(client: AsyncOpenAI, **kw: Any) -> Poller:
    return Poller(client, rpm=600, clock=LoopClock(epoch=EPOCH), seed=1, **kw)


def jsonl(n: int) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "custom_id": f"c{i}",
                "method": "POST",
                "url": "/v1/responses",
                "body": {"model": "gpt-4o-mini", "input": f"q{i}"},
            }
        )
        for i in range(n)
    ).encode()


async def upload(client: AsyncOpenAI, data: bytes) -> str:
    return (await client.files.create(file=("in.jsonl", data), purpose="batch")).id


async def test_a_batch_is_tracked_to_completed_with_its_files_and_counts() -> None:
    # A batch of about 20 minutes, as a real one might take: a handful of checks, not
    # hundreds, and the end found within a few minutes.
    app, client = virtual_mock(
        batch_validating_s=60, batch_in_progress_s=1100, batch_finalizing_s=40,
        batch_line_fail_rate=0.2, seed=2,
    )  # fmt: skip
    async with poller(client) as p:
        job = await p.create_batch(
            input_file_id=await upload(client, jsonl(10)),
            endpoint="/v1/responses",
            metadata={"run": "t"},
        )
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.kind == "batch"
    assert outcome.result is not None
    counts = outcome.result["request_counts"]
    assert counts["total"] == 10
    assert counts["completed"] + counts["failed"] == 10
    assert outcome.result["output_file_id"]
    assert outcome.result["error_file_id"]
    assert outcome.ids == {"batch_id": job.ids["batch_id"]}
    assert outcome.checks <= 8, outcome.checks  # learned from a prior of hours, not seconds
    assert outcome.elapsed_s - 1200 < 600  # found within a few minutes of its end
    assert outcome.as_dict()["result"]["request_counts"] == counts
    assert app.state.mock.stats()["batches"]["retrieves_by_batch"][job.ids["batch_id"]] <= 8


async def test_an_expired_batch_and_a_failed_one_are_outcomes_with_their_reason() -> None:
    _, client = virtual_mock(
        batch_validating_s=5, batch_in_progress_s=100, batch_expire_nth=(1,), seed=1
    )
    timing = KindTiming(prior_median_s=60, min_interval_s=1, max_interval_s=60)
    async with poller(client) as p:
        kind = BatchJobs(timing)
        expired = await p.create(
            kind, {"input_file_id": await upload(client, jsonl(4)), "endpoint": "/v1/responses"}
        )
        bad = await p.create(
            kind, {"input_file_id": await upload(client, b"not json"), "endpoint": "/v1/responses"}
        )
        first, second = await expired, await bad
    assert first.status is Status.EXPIRED
    assert first.error is not None
    assert first.result is not None
    assert first.result["output_file_id"] is not None
    assert second.status is Status.FAILED
    assert second.error is not None
    assert second.error.type == "invalid_json_line"
    assert "line 1" in second.error.message


async def test_a_tracked_batch_and_a_cancel_on_timeout() -> None:
    _, client = virtual_mock(batch_validating_s=5, batch_in_progress_s=300)
    file_id = await upload(client, jsonl(2))
    created = await client.batches.create(
        input_file_id=file_id, endpoint="/v1/responses", completion_window="24h"
    )
    async with poller(client) as p:
        outcome = await p.track_batch(created.id, key="b1")
    assert (outcome.key, outcome.status) == ("b1", Status.COMPLETED)
    assert outcome.checks <= 6
    quick = KindTiming(prior_median_s=10, max_interval_s=5, timeout_s=20)
    async with poller(client) as p:
        job = await p.create(
            BatchJobs(quick),
            {"input_file_id": file_id, "endpoint": "/v1/responses"},
        )
        timed_out = await job
    assert timed_out.status is Status.TIMED_OUT
    assert (await client.batches.retrieve(job.ids["batch_id"])).status in (
        "cancelling",
        "cancelled",
    )


async def test_fine_tuning_jobs_and_file_batches_end_with_their_results() -> None:
    _, client = virtual_mock(fine_tune_duration_s=1200, file_batch_duration_s=20)
    training = await client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    async with poller(client) as p:
        ft = await p.create_fine_tuning_job(model="gpt-4o-mini", training_file=training.id)
        fb = await p.create_vector_store_file_batch("vs_1", file_ids=["f1", "f2", "f3"])
        tracked = p.track_fine_tuning_job(ft.ids["fine_tuning_job_id"], key="again")
        tracked_fb = p.track_vector_store_file_batch("vs_1", fb.ids["file_batch_id"])
        outcomes = [await ft, await fb, await tracked, await tracked_fb]
    ft_out, fb_out, again, fb_again = outcomes
    assert ft_out.status is Status.COMPLETED
    assert ft_out.result is not None
    assert str(ft_out.result["fine_tuned_model"]).startswith("ft:gpt-4o-mini")
    assert again.result == ft_out.result
    assert ft_out.checks <= 8
    assert fb_out.status is Status.COMPLETED
    assert fb_out.result is not None
    assert fb_out.result["file_counts"]["completed"] == 3
    assert fb_again.ids == {"vector_store_id": "vs_1", "file_batch_id": fb.ids["file_batch_id"]}


async def test_a_batch_webhook_makes_the_batch_due_at_once() -> None:
    import asyncio

    from batchpoll import WebhookSettings

    _, client = virtual_mock(batch_validating_s=5, batch_in_progress_s=3000)
    async with poller(client, webhooks=WebhookSettings(safety_interval_s=60)) as p:
        job = await p.create_batch(
            input_file_id=await upload(client, jsonl(2)), endpoint="/v1/responses"
        )
        await asyncio.sleep(3010)  # done (validating + lines + finalizing) ...
        assert p.notify_done(job.ids["batch_id"])  # ... and batch.completed arrives
        outcome = await job
    assert outcome.status is Status.COMPLETED
    assert outcome.elapsed_s < 3012  # the hint, not the safety net, found it
    assert outcome.checks <= 4  # the safety net is the kind's own (30 min), not 60 s
