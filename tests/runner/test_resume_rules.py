"""Resume that forgives (docs/journal.md): what may change between runs, what is bound, and
``retry``. In virtual time against the in-process mock."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batchpoll.runner import (
    ITEM_METADATA_KEY,
    InputError,
    ItemDefaults,
    Journal,
    JournalMismatchError,
    State,
    run_items,
)
from batchpoll.runner._output import OutputWriter

from ._helpers import mock, prompts, read_output, run, settings, write_lines

pytestmark = pytest.mark.looptime

NO_DEFAULTS = ItemDefaults()  # prompt lines are Responses, which need a model


def creates(app: Any) -> dict[str, int]:
    return dict(app.state.mock.creates_by_metadata(ITEM_METADATA_KEY))


def statuses(path: Path) -> Counter[str]:
    return Counter(r["status"] for r in read_output(path))


def one_line_each(path: Path, ids: list[str]) -> dict[str, dict[str, Any]]:
    records = read_output(path)
    assert sorted(r["id"] for r in records) == sorted(ids)  # once each, none missing
    return {r["id"]: r for r in records}


async def test_a_forgotten_model_is_fixed_by_adding_it_to_the_same_command(
    tmp_path: Path,
) -> None:
    app, client = mock(rpm=1200, tool_rate=0.0, fail_rate=0.0)
    write_lines(tmp_path / "in.jsonl", prompts(20))
    first = await run(settings(tmp_path, defaults=NO_DEFAULTS), client)
    assert first.by_status == {"error": 20}
    assert first.bad_input == 20
    assert first.bad_input_examples[0] == (
        "line 1: no model: add 'model' to the line or pass --model"
    )
    assert creates(app) == {}

    fixed = await run(settings(tmp_path, defaults=ItemDefaults(model="gpt-test")), client)
    assert fixed.exit_code == 0
    assert fixed.by_status == {"completed": 20}
    by_id = one_line_each(tmp_path / "out.jsonl", [f"p{i}" for i in range(20)])
    assert {r["status"] for r in by_id.values()} == {"completed"}
    assert creates(app) == {f"p{i}": 1 for i in range(20)}


async def test_an_edited_bad_line_is_the_only_one_that_runs_again(tmp_path: Path) -> None:
    app, client = mock(rpm=6000, tool_rate=0.0, fail_rate=0.0)
    lines: list[Any] = list(prompts(1000))
    lines[499] = '{"id": "p499", "prompt": "question p499"'  # a typo: not JSON
    write_lines(tmp_path / "in.jsonl", lines)
    s = settings(tmp_path, rpm=6000)
    first = await run(s, client)
    assert first.by_status == {"completed": 999, "error": 1}
    assert first.bad_input_examples == (
        "line 500: not JSON (Expecting ',' delimiter at column 41)",
    )
    requests_before = app.state.mock.stats()["requests_total"]

    lines[499] = {"id": "p499", "prompt": "question p499"}
    write_lines(tmp_path / "in.jsonl", lines)
    second = await run(s, client)
    assert second.exit_code == 0
    assert second.finished_now == 1  # only that line ran
    assert second.requests == app.state.mock.stats()["requests_total"] - requests_before
    assert creates(app) == {f"p{i}": 1 for i in range(1000)}
    by_id = one_line_each(s.output_path, [f"p{i}" for i in range(1000)])
    assert by_id["p499"]["status"] == "completed"
    # The bad line's old result had the line number for id: it is no item any more.
    assert "500" not in by_id


async def test_options_may_change_and_apply_to_items_not_yet_sent(tmp_path: Path) -> None:
    app, client = mock(rpm=6000, tool_rate=0.0, fail_rate=0.0)
    write_lines(tmp_path / "in.jsonl", prompts(60))
    s = settings(tmp_path, rpm=600, max_in_flight=20, defaults=ItemDefaults(model="m-one"))
    first = await run(s, client, stop_when=lambda p: p.done >= 10)
    assert first.interrupted
    other = replace(s, rpm=1200, timeout_s=600.0, defaults=ItemDefaults(model="m-two"))
    second = await run(other, client)
    assert second.exit_code == 0
    assert creates(app) == {f"p{i}": 1 for i in range(60)}
    models: Counter[str] = Counter()
    for record in read_output(s.output_path):
        models[(await client.responses.retrieve(record["response_id"])).model] += 1
    assert models["m-one"] >= 10
    assert models["m-two"] >= 1
    assert models["m-one"] + models["m-two"] == 60


async def test_a_changed_line_that_ran_is_named_and_kept_unless_redone(tmp_path: Path) -> None:
    app, client = mock(rpm=1200, tool_rate=0.0, fail_rate=0.0)
    lines = prompts(5)
    write_lines(tmp_path / "in.jsonl", lines)
    s = settings(tmp_path)
    await run(s, client)
    before = one_line_each(s.output_path, [f"p{i}" for i in range(5)])

    lines[2] = {"id": "p2", "prompt": "another question p2"}
    lines[3] = {"prompt": "question p3", "id": "p3"}  # the same object, written differently
    write_lines(tmp_path / "in.jsonl", lines)
    notices: list[str] = []
    kept = await run_items(s, client, on_notice=notices.append)
    assert notices == [
        "line 3 (id 'p2') changed since it ran: kept as it ran (--redo-changed runs it again)"
    ]
    assert kept.changed == ((3, "p2", False),)
    assert kept.requests == 0
    assert read_output(s.output_path) == list(before.values())

    notices.clear()
    redone = await run_items(replace(s, redo_changed=True), client, on_notice=notices.append)
    assert notices == ["line 3 (id 'p2') changed since it ran: running it again"]
    assert redone.finished_now == 1
    assert creates(app) == {"p0": 1, "p1": 1, "p2": 2, "p3": 1, "p4": 1}
    after = one_line_each(s.output_path, [f"p{i}" for i in range(5)])
    assert after["p2"]["run_id"] != before["p2"]["run_id"]
    third = await run_items(s, client, on_notice=notices.append)  # now it ran as it is
    assert third.changed == ()
    assert third.requests == 0


async def test_ids_that_ran_are_bound_and_ids_that_never_ran_are_forgotten(
    tmp_path: Path,
) -> None:
    _, client = mock(rpm=1200, tool_rate=0.0, fail_rate=0.0)
    write_lines(tmp_path / "in.jsonl", [*prompts(3), "{oops"])
    s = settings(tmp_path)
    await run(s, client)
    write_lines(tmp_path / "in.jsonl", prompts(2))  # p2 ran; line 4 never did
    with pytest.raises(InputError, match=r"no longer has items that reached the server: 'p2'"):
        await run(s, client)
    write_lines(tmp_path / "in.jsonl", prompts(3))
    summary = await run(s, client)
    assert summary.requests == 0
    one_line_each(s.output_path, ["p0", "p1", "p2"])  # the bad line's result is gone with it
    with Journal.open(s.journal) as journal:
        assert sorted(journal.entries()) == ["p0", "p1", "p2"]


async def test_another_server_is_refused_with_advice_that_works(tmp_path: Path) -> None:
    _, client = mock(rpm=1200, tool_rate=0.0)
    write_lines(tmp_path / "in.jsonl", prompts(3))
    s = settings(tmp_path)
    await run(s, client)
    with pytest.raises(JournalMismatchError, match=r"base_url differs .* choose another -o"):
        await run(replace(s, base_url="http://elsewhere/v1"), client)


async def test_retry_failed_reruns_exactly_those_and_keeps_one_line_each(tmp_path: Path) -> None:
    app, client = mock(rpm=6000, tool_rate=0.0, fail_rate=0.1, seed=4)
    ids = [f"p{i}" for i in range(200)]
    write_lines(tmp_path / "in.jsonl", prompts(200))
    s = settings(tmp_path, rpm=6000)
    first = await run(s, client)
    failed = {r["id"] for r in read_output(s.output_path) if r["status"] == "failed"}
    assert 5 <= len(failed) == first.by_status["failed"]

    again = await run(replace(s, retry=frozenset({"failed"})), client)
    assert again.retried == len(failed)
    assert again.finished_now == len(failed)
    made = creates(app)
    assert {k for k, n in made.items() if n == 2} == failed
    assert set(made.values()) == {1, 2}
    by_id = one_line_each(s.output_path, ids)
    assert again.by_status == Counter(r["status"] for r in by_id.values())
    with Journal.open(s.journal) as journal:
        in_journal = Counter(e.status for e in journal.entries().values())
    assert in_journal == again.by_status
    assert again.by_status["failed"] < len(failed)  # most passed the second time


async def test_retry_uncertain_creates_again_what_may_have_been_sent(tmp_path: Path) -> None:
    app, client = mock(rpm=1200, tool_rate=0.0, fail_rate=0.0)
    lines = prompts(3)
    write_lines(tmp_path / "in.jsonl", lines)
    s = settings(tmp_path, defaults=ItemDefaults(model="gpt-test"))
    await run(s, client, stop_when=lambda p: True)  # stopped at once: nothing may be left
    from batchpoll.runner import content_digest

    with Journal.open(s.journal) as journal:
        journal.sending("p1", 2, "responses", content_digest(lines[1]))  # killed on the wire
    plain = await run(s, client)
    assert plain.by_status == {"completed": 2, "uncertain": 1}
    retried = await run(replace(s, retry=frozenset({"uncertain"})), client)
    assert retried.by_status == {"completed": 3}
    assert creates(app)["p1"] == 1  # the mock never saw the "lost" create: now it has one
    one_line_each(s.output_path, ["p0", "p1", "p2"])


def _format_1_journal(path: Path, sha: str, rows: list[tuple[str, int, str]]) -> None:
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE items (key TEXT PRIMARY KEY, line_no INTEGER NOT NULL, state TEXT NOT NULL,
            kind TEXT NOT NULL, ids TEXT NOT NULL DEFAULT '{}', outcome TEXT);
        """
    )
    meta = {"version": "1", "input_sha256": sha, "base_url": "", "--model": "", "--kind": ""}
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    for key, line_no, status in rows:
        outcome = {"id": key, "line": line_no, "status": status}
        if status == "error":
            outcome["error"] = {"type": "bad_input", "message": f"line {line_no}: no model"}
        db.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?, '{}', ?)",
            (key, line_no, State.DONE.value, "responses", json.dumps(outcome)),
        )
    db.commit()
    db.close()


async def test_a_journal_of_the_old_format_resumes_or_says_how(tmp_path: Path) -> None:
    import hashlib

    app, client = mock(rpm=1200, tool_rate=0.0, fail_rate=0.0)
    write_lines(tmp_path / "in.jsonl", prompts(3))
    s = settings(tmp_path)
    sha = hashlib.sha256((tmp_path / "in.jsonl").read_bytes()).hexdigest()
    _format_1_journal(s.journal, "0" * 64, [("p0", 1, "completed")])
    with pytest.raises(JournalMismatchError, match="older batchpoll's format"):
        await run(s, client)
    s.journal.unlink()
    _format_1_journal(s.journal, sha, [("p0", 1, "completed"), ("p1", 2, "error")])
    summary = await run(s, client)  # the same input: upgraded, p1 (never sent) runs now
    assert summary.by_status == {"completed": 3}
    assert creates(app) == {"p1": 1, "p2": 1}
    with Journal.open(s.journal) as journal:
        assert journal.meta()["version"] == "2"
        assert journal.entries()["p0"].digest is not None


def test_the_output_keeps_the_last_line_of_each_item_through_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = OutputWriter(path).open()
    out.write({"id": "a", "status": "failed"})
    out.write({"id": "b", "status": "completed"})
    assert not out.write({"id": "a", "status": "failed"})  # already its last line
    out.write({"id": "a", "status": "completed"})  # a retry: appended, nothing edited
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["a", "b", "a"]
    # Killed here (no close): every line is in the file; a reopen sees each item's last.
    again = OutputWriter(path).open()
    assert not again.write({"id": "a", "status": "completed"})
    again.write({"id": "c", "status": "completed"})
    again.close(keep={"a", "b", "c"})
    assert [json.loads(x) for x in path.read_text().splitlines()] == [
        {"id": "b", "status": "completed"},
        {"id": "a", "status": "completed"},
        {"id": "c", "status": "completed"},
    ]
    assert not (tmp_path / "out.jsonl.compact").exists()
