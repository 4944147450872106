"""The official SDK (strict validation) against files, batches, fine-tuning jobs and
vector-store file batches, on virtual time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from batchpoll.mock import MockConfig, expected_reply

from .conftest import MockFactory

pytestmark = pytest.mark.looptime

FAST = {"batch_validating_s": 1.0, "batch_in_progress_s": 10.0, "batch_finalizing_s": 1.0}


def jsonl(n: int, url: str = "/v1/responses", start: int = 0) -> bytes:
    lines = []
    for i in range(start, start + n):
        if url == "/v1/chat/completions":
            body: dict[str, Any] = {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": f"q{i}"},
                ],
            }
        else:
            body = {"model": "gpt-4o-mini", "input": f"q{i}"}
        lines.append(json.dumps({"custom_id": f"c{i}", "method": "POST", "url": url, "body": body}))
    return ("\n".join(lines) + "\n").encode()


async def start(mock: Any, data: bytes, url: str = "/v1/responses", **kw: Any) -> Any:
    file = await mock.client.files.create(file=("in.jsonl", data), purpose="batch")
    return await mock.client.batches.create(
        input_file_id=file.id, endpoint=url, completion_window="24h", **kw
    )


async def lines_of(mock: Any, file_id: str | None) -> dict[str, dict[str, Any]]:
    if file_id is None:
        return {}
    text = (await mock.client.files.content(file_id)).text
    return {(line := json.loads(raw))["custom_id"]: line for raw in text.splitlines()}


async def test_a_batch_runs_its_lines_and_ends_with_output_and_error_files(
    make_mock: MockFactory,
) -> None:
    mock = make_mock(MockConfig(**FAST, batch_line_fail_rate=0.3, seed=3))
    batch = await start(mock, jsonl(20), metadata={"run": "r", "part": "1"})
    assert (batch.status, batch.request_counts.total) == ("validating", 0)
    assert batch.metadata == {"run": "r", "part": "1"}
    await asyncio.sleep(6)  # half-way through its lines
    mid = await mock.client.batches.retrieve(batch.id)
    assert mid.status == "in_progress"
    assert 0 < mid.request_counts.completed + mid.request_counts.failed < 20
    await asyncio.sleep(5.5)
    assert (await mock.client.batches.retrieve(batch.id)).status == "finalizing"
    await asyncio.sleep(1)
    done = await mock.client.batches.retrieve(batch.id)
    assert done.status == "completed"
    counts = done.request_counts
    assert counts.total == 20
    assert counts.completed + counts.failed == 20
    assert counts.failed > 0
    out, err = await lines_of(mock, done.output_file_id), await lines_of(mock, done.error_file_id)
    assert len(out) == counts.completed
    assert len(err) == counts.failed
    assert set(out) | set(err) == {f"c{i}" for i in range(20)}
    for cid, line in out.items():
        body = line["response"]["body"]
        assert line["response"]["status_code"] == 200
        assert line["error"] is None
        text = body["output"][0]["content"][0]["text"]
        assert text == expected_reply(f"q{cid[1:]}")
    assert all(line["response"]["status_code"] == 500 for line in err.values())


async def test_chat_completion_lines_get_chat_completion_bodies(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FAST))
    batch = await start(mock, jsonl(3, "/v1/chat/completions"), "/v1/chat/completions")
    await asyncio.sleep(13)
    done = await mock.client.batches.retrieve(batch.id)
    out = await lines_of(mock, done.output_file_id)
    body = out["c1"]["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == expected_reply("q1")


async def test_an_expiring_batch_keeps_the_lines_it_finished(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FAST, batch_expire_nth=(1,), batch_expire_share=0.5))
    batch = await start(mock, jsonl(10))
    await asyncio.sleep(12)
    done = await mock.client.batches.retrieve(batch.id)
    assert done.status == "expired"
    assert done.expired_at is not None
    out, err = await lines_of(mock, done.output_file_id), await lines_of(mock, done.error_file_id)
    assert sorted(out) == [f"c{i}" for i in range(5)]
    assert {line["error"]["code"] for line in err.values()} == {"batch_expired"}
    assert len(err) == 5


async def test_a_cancelled_batch_reports_what_it_did_not_run(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FAST, cancel_delay_s=1.0))
    batch = await start(mock, jsonl(10))
    await asyncio.sleep(6)
    cancelling = await mock.client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    await asyncio.sleep(1)
    done = await mock.client.batches.retrieve(batch.id)
    assert done.status == "cancelled"
    err = await lines_of(mock, done.error_file_id)
    assert err
    assert {line["error"]["code"] for line in err.values()} == {"batch_cancelled"}
    with pytest.raises(openai.BadRequestError):
        await mock.client.batches.cancel(batch.id)


async def test_an_invalid_input_fails_the_batch_naming_the_line(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FAST))
    data = jsonl(2) + jsonl(1)  # c0 twice
    batch = await start(mock, data)
    await asyncio.sleep(1.5)
    failed = await mock.client.batches.retrieve(batch.id)
    assert failed.status == "failed"
    assert failed.errors is not None
    assert [(e.code, e.line) for e in failed.errors.data or []] == [("duplicate_custom_id", 3)]
    with pytest.raises(openai.BadRequestError):
        await mock.client.batches.create(
            input_file_id="file-nope", endpoint="/v1/responses", completion_window="24h"
        )


async def test_lists_page_with_cursors_and_filter_by_purpose(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(**FAST))
    for _ in range(3):
        await start(mock, jsonl(1))
    await mock.client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    seen = [b.id async for b in mock.client.batches.list(limit=2)]  # the SDK follows `after`
    assert len(seen) == len(set(seen)) == 3
    files = await mock.client.files.list(purpose="batch")
    assert [f.filename for f in files.data] == ["in.jsonl"] * 3
    page = await mock.client.files.list(limit=1)
    assert page.has_more
    assert page.data[0].purpose == "fine-tune"
    deleted = await mock.client.files.delete(page.data[0].id)
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        await mock.client.files.retrieve(page.data[0].id)
    stats = await mock.stats()
    assert stats["files"]["uploads_by_filename"] == {"in.jsonl": 3, "t.jsonl": 1}
    assert stats["batches"]["created"] == 3


async def test_fine_tuning_jobs_and_file_batches_end(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fine_tune_duration_s=10, file_batch_duration_s=4))
    training = await mock.client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    job = await mock.client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    assert job.status == "validating_files"
    assert job.fine_tuned_model is None
    fb = await mock.client.vector_stores.file_batches.create("vs_1", file_ids=["f1", "f2"])
    assert fb.status == "in_progress"
    assert fb.file_counts.in_progress == 2
    await asyncio.sleep(5)
    assert (await mock.client.fine_tuning.jobs.retrieve(job.id)).status == "running"
    fb = await mock.client.vector_stores.file_batches.retrieve(fb.id, vector_store_id="vs_1")
    assert fb.status == "completed"
    assert fb.file_counts.completed == 2
    await asyncio.sleep(5)
    done = await mock.client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model
    listed = [j.id async for j in mock.client.fine_tuning.jobs.list()]
    assert listed == [job.id]


async def test_the_enqueued_token_limit_fails_a_batch_with_openais_error(
    make_mock: MockFactory,
) -> None:
    mock = make_mock(MockConfig(**FAST, batch_queue_tokens=80))
    first = await start(mock, jsonl(5))  # about 10 tokens a line
    second = await start(mock, jsonl(5, start=5))
    await asyncio.sleep(1.5)
    assert (await mock.client.batches.retrieve(first.id)).status == "in_progress"
    refused = await mock.client.batches.retrieve(second.id)
    assert refused.status == "failed"
    assert refused.errors is not None
    (error,) = refused.errors.data or []
    assert error.code == "token_limit_exceeded"
    assert (error.message or "").startswith("Enqueued token limit reached for gpt-4o-mini")
    await asyncio.sleep(11)  # the first has ended: there is room again
    third = await start(mock, jsonl(5, start=5))
    await asyncio.sleep(1.5)
    assert (await mock.client.batches.retrieve(third.id)).status == "in_progress"
