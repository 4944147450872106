"""``--via batch``: a bulk run through the Batch API against the in-process mock, in virtual
time: parts, results in the usual shape, expiry re-submitted once, resume without a second
upload or create."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batchpoll import AuthenticationFailedError, ConfigurationError, LoopClock
from batchpoll.cli._status import status_counts
from batchpoll.mock import FaultWindow, expected_reply
from batchpoll.runner import (
    BatchSettings,
    InputError,
    ItemDefaults,
    Journal,
    RunProgress,
    RunSummary,
    run_items,
)
from tests._virtual import EPOCH

from ._helpers import mock, read_output, settings, write_lines
from ._helpers import run as run_with_tools

pytestmark = pytest.mark.looptime

FAST = {"batch_validating_s": 5, "batch_in_progress_s": 60, "batch_finalizing_s": 5}


def lines(n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i % 5 == 4:  # every fifth a chat completion
            out.append({"id": f"c{i}", "messages": [{"role": "user", "content": f"q{i}"}]})
        else:
            out.append({"id": f"r{i}", "input": f"q{i}"})
    return out


async def run(
    s: Any, client: Any, *, stop_when: Callable[[RunProgress], bool] | None = None
) -> RunSummary:
    """The helpers' run without its tools (a batch has no tool loop)."""
    stop = asyncio.Event()

    def on_progress(p: RunProgress) -> None:
        if stop_when is not None and stop_when(p):
            stop.set()

    clock = LoopClock(epoch=EPOCH)
    return await run_items(s, client, stop=stop, on_progress=on_progress, clock=clock)


def via_batch(tmp_path: Path, **kw: Any) -> Any:
    # No --assistant-id: 'messages' lines are chat completions, not Assistants runs.
    defaults = ItemDefaults(model="gpt-test")
    return settings(tmp_path, defaults=defaults, batch=BatchSettings(expect_s=60, **kw))


def check_outputs(records: list[dict[str, Any]], n: int) -> Counter[str]:
    assert len(records) == n
    assert len({r["id"] for r in records}) == n  # each item exactly once
    for r in records:
        if r["status"] == "completed":
            i = int(r["id"][1:])
            assert r["output_text"] == expected_reply(f"q{i}"), r
            assert r["batch_id"].startswith("batch_")
            assert r["kind"] == ("chat_completions" if r["id"][0] == "c" else "responses")
        else:
            assert r["error"]["type"], r
    return Counter(r["status"] for r in records)


async def test_items_run_through_batches_with_their_errors(tmp_path: Path) -> None:
    app, client = mock(**FAST, batch_line_fail_rate=0.1, seed=4)
    write_lines(
        tmp_path / "in.jsonl",
        [
            *lines(50),
            {"id": "tool", "input": "x", "tools": [{"type": "function", "name": "f"}]},
            {"id": "track", "response_id": "resp_1"},
            "{oops",
        ],
    )
    s = via_batch(tmp_path, max_lines=20)
    summary = await run(s, client)
    records = read_output(s.output_path)
    by_id = {r["id"]: r for r in records}
    assert "no tool loop" in by_id["tool"]["error"]["message"]
    assert "existing job" in by_id["track"]["error"]["message"]
    assert by_id["53"]["error"]["type"] == "bad_input"
    statuses = check_outputs([r for r in records if r["id"][0] in "rc"], 50)
    assert statuses["error"] >= 1  # the 500s of the error file, as each item's error
    assert any("HTTP 500" in r["error"]["message"] for r in records if r["status"] == "error")
    stats = app.state.mock.stats()
    # 40 responses lines in 2 parts of 20, 10 chat lines in 1 part: an upload and a create each
    assert stats["batches"]["created"] == 3
    assert sorted(stats["files"]["uploads_by_filename"].values()) == [1, 1, 1]
    assert summary.requests == stats["requests_total"]
    assert summary.requests <= 3 * (4 + 6)  # upload, create, 2 downloads + a few checks each
    assert summary.by_status["completed"] == statuses["completed"]


async def test_an_expired_batch_is_resubmitted_once_and_completes(tmp_path: Path) -> None:
    app, client = mock(**FAST, batch_expire_nth=(1,), batch_expire_share=0.5)
    write_lines(tmp_path / "in.jsonl", [{"id": f"r{i}", "input": f"q{i}"} for i in range(10)])
    s = via_batch(tmp_path)
    await run(s, client)
    records = read_output(s.output_path)
    assert check_outputs(records, 10) == {"completed": 10}
    batches = app.state.mock.stats()["batches"]
    assert batches["created"] == 2
    assert batches["by_status"] == {"completed": 1, "expired": 1}
    first = {r["batch_id"] for r in records}
    assert len(first) == 2  # half from the expired batch, half from its re-submission


async def test_without_resubmit_the_unrun_lines_are_expired(tmp_path: Path) -> None:
    _, client = mock(**FAST, batch_expire_nth=(1,), batch_expire_share=0.5)
    write_lines(tmp_path / "in.jsonl", [{"id": f"r{i}", "input": f"q{i}"} for i in range(10)])
    s = via_batch(tmp_path, resubmit_expired=False)
    await run(s, client)
    statuses = Counter(r["status"] for r in read_output(s.output_path))
    assert statuses == {"completed": 5, "expired": 5}


async def test_a_stopped_run_resumes_without_a_second_upload_or_create(tmp_path: Path) -> None:
    app, client = mock(**FAST)
    write_lines(tmp_path / "in.jsonl", lines(30))
    s = via_batch(tmp_path, max_lines=10)
    first = await run(s, client, stop_when=lambda p: "in_progress" in p.detail)
    assert first.interrupted
    assert status_counts(s.journal)[0] == {"in a batch": 30}  # batchpoll status
    again = await run(s, client)
    assert not again.interrupted
    records = read_output(s.output_path)
    assert check_outputs(records, 30) == {"completed": 30}
    stats = app.state.mock.stats()
    assert stats["batches"]["created"] == 4  # 24 responses lines in 3 parts, 6 chats in 1
    assert all(n == 1 for n in stats["files"]["uploads_by_filename"].values())
    downloads = stats["files"]["downloads_by_file"]
    assert downloads
    assert all(n == 1 for n in downloads.values())
    third = await run(s, client)  # all done: nothing is sent
    assert third.requests == 0
    with Journal.read(s.journal) as journal:
        (run_id,) = journal.db.execute(
            "SELECT value FROM batch_run WHERE name = 'run_id'"
        ).fetchone()
    assert all(run_id in name for name in stats["files"]["uploads_by_filename"])


async def test_a_lost_reply_is_looked_for_before_anything_is_sent_again(
    tmp_path: Path,
) -> None:
    """Uploads and creates that took effect but whose replies were lost (as when a process
    dies right after sending): the file is found by its name, the batch by its metadata."""
    windows = [
        FaultWindow(0, 1.5, "disconnect", request_class="post"),  # the uploads
        FaultWindow(0, 8, "disconnect", request_class="create"),  # the creates
    ]
    app, client = mock(**FAST, fault_windows=windows)
    write_lines(tmp_path / "in.jsonl", lines(10))
    s = via_batch(tmp_path, max_lines=4)  # 8 responses lines in 2 parts, 2 chat lines in 1
    await run(s, client)
    assert check_outputs(read_output(s.output_path), 10) == {"completed": 10}
    stats = app.state.mock.stats()
    assert stats["faults"]["disconnect"] >= 4
    assert stats["batches"]["created"] == 3
    assert sorted(stats["files"]["uploads_by_filename"].values()) == [1, 1, 1]


async def test_a_direct_rerun_of_a_journal_with_batches_in_flight_is_refused(
    tmp_path: Path,
) -> None:
    _, client = mock(**FAST)
    write_lines(tmp_path / "in.jsonl", lines(10))
    s = via_batch(tmp_path)
    await run(s, client, stop_when=lambda p: "in_progress" in p.detail)
    with pytest.raises(InputError, match="batches in flight"):
        await run(replace(s, batch=None), client)
    await run(s, client)  # with --via batch it finishes; then either mode may follow
    assert len(read_output(s.output_path)) == 10
    await run(replace(s, batch=None), client)


async def test_a_full_enqueued_token_quota_waits_for_the_runs_other_batches(
    tmp_path: Path,
) -> None:
    app, client = mock(**FAST, batch_queue_tokens=250)  # about one part of 10 lines at a time
    write_lines(tmp_path / "in.jsonl", [{"id": f"r{i}", "input": f"q{i}"} for i in range(30)])
    s = via_batch(tmp_path, max_lines=10)
    await run(s, client)
    assert check_outputs(read_output(s.output_path), 30) == {"completed": 30}
    stats = app.state.mock.stats()
    assert stats["batches"]["by_status"]["completed"] == 3
    assert stats["batches"]["by_status"]["failed"] >= 2  # token_limit_exceeded, then again
    assert sorted(stats["files"]["uploads_by_filename"].values()) == [1, 1, 1]  # files reused


async def test_a_stop_leaves_at_once_without_waiting_for_the_batches(tmp_path: Path) -> None:
    _, client = mock(batch_validating_s=5, batch_in_progress_s=36_000)  # ten hours
    write_lines(tmp_path / "in.jsonl", lines(5))
    s = via_batch(tmp_path)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first = await run(s, client, stop_when=lambda p: "in_progress" in p.detail)
    assert first.interrupted
    assert loop.time() - start < 3600  # not when the batch ends: the stop is honoured
    assert read_output(s.output_path) == []


async def test_server_errors_on_checks_lists_and_downloads_are_retried(tmp_path: Path) -> None:
    app, client = mock(**FAST, fault_windows=[FaultWindow(0, 3600, "error", 0.4, "get")])
    write_lines(tmp_path / "in.jsonl", lines(20))
    s = via_batch(tmp_path, max_lines=8)
    await run(s, client)
    assert check_outputs(read_output(s.output_path), 20) == {"completed": 20}
    assert sum(app.state.mock.stats()["faults"].values()) >= 3  # 500, 502, 503


async def test_a_rejected_key_stops_the_run_with_its_error(tmp_path: Path) -> None:
    _, client = mock(**FAST, api_key="sk-the-right-one")
    write_lines(tmp_path / "in.jsonl", lines(10))
    with pytest.raises(AuthenticationFailedError):
        await run(via_batch(tmp_path, max_lines=3), client)


async def test_tools_cannot_go_through_a_batch(tmp_path: Path) -> None:
    _, client = mock(**FAST)
    write_lines(tmp_path / "in.jsonl", lines(2))
    with pytest.raises(ConfigurationError, match="no tool loop"):
        await run_with_tools(via_batch(tmp_path), client)  # the helpers' lookup tool
