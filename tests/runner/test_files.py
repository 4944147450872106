"""The journal, the output file and the tools loader: the runner's three kinds of files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from batchpoll.runner import (
    Binding,
    Journal,
    JournalError,
    JournalMismatchError,
    State,
    ToolsError,
    load_tools,
)
from batchpoll.runner._errors import InputError
from batchpoll.runner._output import OutputWriter

FP = Binding.of("http://server/v1", "sk-key-1")


def test_journal_records_each_transition_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path, FP) as journal:
        journal.sending("a", 1, "assistants", "d-a")
        journal.sending("b", 2, "responses", "d-b")
        journal.forget("b")  # the create never left
        journal.thread("c", 3, "assistants", "thread_1", "d-c")
        journal.created("d", 4, "responses", {"response_id": "resp_1"}, "d-d")
        journal.sending("e", 5, "assistants", "d-e")
        journal.done("e", 5, "assistants", {"id": "e", "status": "completed", "run_id": "r"})
        journal.done("f", 6, "-", {"id": "f", "status": "error"})  # a bad line: never sent
        journal.forget("c")  # only 'sending' rows can be forgotten
    with Journal.open(path, FP) as journal:
        entries = journal.entries()
    assert {k: e.state for k, e in entries.items()} == {
        "a": State.SENDING,
        "c": State.THREAD,
        "d": State.CREATED,
        "e": State.DONE,
        "f": State.DONE,
    }
    assert entries["c"].ids == {"thread_id": "thread_1"}
    assert entries["e"].outcome == {"id": "e", "status": "completed", "run_id": "r"}
    assert entries["e"].ids == {"run_id": "r"}
    assert entries["d"].line_no == 4
    # The digest of what was sent stays through later states; a never-sent item has none.
    assert {k: e.digest for k, e in entries.items()} == {
        "a": "d-a",
        "c": "d-c",
        "d": "d-d",
        "e": "d-e",
        "f": None,
    }


def test_journal_binds_the_server_and_the_key_never_storing_the_key(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path, FP) as journal:
        journal.sending("a", 1, "assistants", "d-a")
    assert b"sk-key-1" not in path.read_bytes()
    with pytest.raises(JournalMismatchError, match="base_url differs"):
        Journal.open(path, Binding.of("http://other/v1", "sk-key-1"))
    with pytest.raises(JournalMismatchError, match="made with another API key"):
        Journal.open(path, Binding.of("http://server/v1", "sk-key-2"))
    with Journal.open(path, FP) as journal:
        journal.set_info(key_rejected="1")  # the run ended with the key rejected (revoked)
    Journal.open(path, Binding.of("http://server/v1", "sk-key-2")).close()  # replaced
    with pytest.raises(JournalMismatchError, match="made with another API key"):
        Journal.open(path, FP)  # ... and the new one is bound from now on


def test_a_journal_without_sent_items_binds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path, FP) as journal:  # e.g. a run that stopped at a wrong base URL
        journal.done("1", 1, "-", {"id": "1", "status": "error"})  # with a bad line
    right = Binding.of("http://right/v1", "sk-key-1")
    with Journal.open(path, right) as journal:
        journal.sending("a", 1, "assistants", "d-a")
    with pytest.raises(JournalMismatchError, match="base_url differs"):
        Journal.open(path, FP)


def test_journal_is_locked_by_its_run(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path, FP), pytest.raises(JournalError, match="in use by another"):
        Journal.open(path, FP)
    Journal.open(path, FP).close()  # released


def test_a_file_that_is_not_a_journal_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_text("not a database, not at all" * 100)
    with pytest.raises(JournalError, match="cannot use journal"):
        Journal.open(path, FP)


def test_output_writes_each_id_once_and_cuts_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": "a", "status": "completed"}\n{"id": "b", "sta')
    out = OutputWriter(path).open()
    assert out.written == {"a"}
    assert not out.write({"id": "a", "status": "completed"})
    assert out.write({"id": "b", "status": "failed"})
    assert not out.write({"id": "b", "status": "failed"})
    out.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["id"] for r in lines] == ["a", "b"]
    assert lines[1]["status"] == "failed"


def test_output_refuses_a_file_that_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("hello\nworld\n")
    with pytest.raises(InputError, match="line 1 is not a batchpoll result"):
        OutputWriter(path).open()


TOOLS = """
import json
from json import dumps as imported_helper

__doc__ = "tools"

def lookup(query: str, round: int) -> str:
    return f"{query}#{round}"

async def weather(city: str) -> dict:
    return {"city": city}

def _private() -> None: ...

CONSTANT = 3
"""


def test_tools_from_a_file_are_its_public_functions(tmp_path: Path) -> None:
    path = tmp_path / "my_tools.py"
    path.write_text(TOOLS)
    tools = load_tools(str(path))
    assert sorted(tools) == ["lookup", "weather"]
    assert tools["lookup"](query="q", round=2) == "q#2"


def test_tools_from_a_module_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pkg_tools_mod.py").write_text(TOOLS + "\n__all__ = ['lookup']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert sorted(load_tools("pkg_tools_mod")) == ["lookup"]
    finally:
        sys.modules.pop("pkg_tools_mod", None)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("def broken(:\n", "SyntaxError: invalid syntax"),
        ("import not_a_module_anywhere\n", "ModuleNotFoundError"),
        ("raise RuntimeError('boom')\n", "RuntimeError: boom"),
        ("X = 1\n", "no tool functions"),
    ],
)
def test_bad_tools_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tools.py"
    path.write_text(content)
    with pytest.raises(ToolsError, match="tools") as info:
        load_tools(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_tools_file_or_module(tmp_path: Path) -> None:
    with pytest.raises(ToolsError, match="no such file"):
        load_tools(str(tmp_path / "nope.py"))
    with pytest.raises(ToolsError, match="no such file or importable module"):
        load_tools("no_such_tools_module_xyz")
