"""Reliability of ``run_items`` (the bulk runner) against the in-process mock, virtual time."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from batchpoll import AuthenticationFailedError
from batchpoll.mock import asgi_client
from batchpoll.runner import ITEM_METADATA_KEY, Journal, State
from tests.runner._helpers import API_KEY, mock, prompts, read_output, run, settings, write_lines

pytestmark = pytest.mark.looptime

# Ten kinds of lines that cannot run, each with the text its error must hold.
BAD_LINES: list[tuple[str, str]] = [
    ("{not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('"just a string"', "not a JSON object"),
    ('{"id": "q", "question": "?"}', "unknown shape"),
    ('{"prompt": "p", "messages": []}', "either 'prompt' or 'messages'"),
    ('{"prompt": ""}', "'prompt' must be a non-empty string"),
    ('{"messages": [{"role": "user"}]}', "each message needs 'role' and 'content'"),
    ('{"prompt": "p", "colour": "red"}', "unknown field(s) 'colour'"),
    ('{"prompt": "p", "metadata": {"n": 1}}', "'metadata' must be an object of string values"),
    ('{"thread_id": "t"}', "needs both 'thread_id' and 'run_id'"),
    ('{"response_id": "r", "prompt": "p"}', "only ids"),
    ('{"id": true, "prompt": "p"}', "'id' must be a string or an integer"),
    ('{"input": "x", "params": [1]}', "'params' must be an object"),
    ('{"input": "x", "assistant_id": "asst_9"}', "'assistant_id' is for Assistants runs"),
    ('{"id": "' + "x" * 513 + '", "prompt": "p"}', "longer than 512"),
]


async def test_bad_lines_are_each_reported_with_their_line_and_the_others_complete(
    tmp_path: Path,
) -> None:
    app, client = mock(rpm=1200, fail_rate=0.0, tool_rate=0.2)
    good = prompts(30)
    lines: list[Any] = []
    expected: dict[int, str] = {}  # line number -> error text
    for i, item in enumerate(good):  # a bad line after every second good one
        lines.append(item)
        if i % 2 and len(expected) < len(BAD_LINES):
            lines.append(BAD_LINES[len(expected)][0])
            expected[len(lines)] = BAD_LINES[len(expected)][1]
    write_lines(tmp_path / "in.jsonl", lines)
    with (tmp_path / "in.jsonl").open("ab") as f:
        f.write(b'{"prompt": "\xff\xfe"}\n')  # and one that is not UTF-8
    lines.append("")
    expected[len(lines)] = "not UTF-8"
    summary = await run(settings(tmp_path), client)
    records = read_output(tmp_path / "out.jsonl")
    by_line = {r["line"]: r for r in records}
    assert len(records) == len(lines)  # every line once
    for line_no, text in expected.items():
        record = by_line[line_no]
        assert record["status"] == "error", record
        assert record["error"]["type"] == "bad_input"
        assert record["error"]["message"].startswith(f"line {line_no}: "), record
        assert text in record["error"]["message"], record
    assert len(expected) >= 10
    ok = [r for r in records if r["line"] not in expected]
    assert {r["status"] for r in ok} == {"completed"}
    assert sorted(r["id"] for r in ok) == sorted(item["id"] for item in good)
    assert summary.by_status == {"completed": 30, "error": len(expected)}
    assert app.state.mock.creates_by_metadata(ITEM_METADATA_KEY) == {g["id"]: 1 for g in good}


async def test_a_key_revoked_mid_run_stops_it_fast_and_the_journal_resumes(
    tmp_path: Path,
) -> None:
    app, client = mock(rpm=1200, fail_rate=0.0, tool_rate=0.2, duration_median_s=2.0)
    write_lines(tmp_path / "in.jsonl", prompts(200))
    s = settings(tmp_path)

    revoked_at: list[int] = []

    def revoke(p: Any) -> bool:
        if p.done >= 40 and not revoked_at:
            app.state.mock.configure(api_key="sk-rotated")  # every request is 401 from now
            revoked_at.append(app.state.mock.stats()["requests_total"])
        return False

    loop = asyncio.get_running_loop()
    with pytest.raises(AuthenticationFailedError, match="rejected the key") as info:
        await run(s, client, stop_when=revoke)
    stopped_at = loop.time()
    assert API_KEY not in str(info.value)
    server = app.state.mock.stats()
    # Fast: the requests already granted when the key went bad, no more.
    assert server["unauthorized"] <= 20
    written = read_output(s.output_path)
    assert 40 <= len(written) < 200
    with Journal.open(s.journal) as j:
        entries = j.entries()
    done = {k for k, e in entries.items() if e.state is State.DONE}
    assert done == {r["id"] for r in written}  # the journal is the output, no more, no less
    assert all(e.state in (State.DONE, State.CREATED) for e in entries.values())

    fixed = asgi_client(app, api_key="sk-rotated")
    again = await run(s, fixed)
    assert loop.time() > stopped_at
    records = read_output(s.output_path)
    assert Counter(r["id"] for r in records) == {f"p{i}": 1 for i in range(200)}
    assert {r["status"] for r in records} == {"completed"}
    assert app.state.mock.creates_by_metadata(ITEM_METADATA_KEY) == {f"p{i}": 1 for i in range(200)}
    assert again.resumed_items == len(entries)
