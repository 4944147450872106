"""``batchpoll run`` as a user meets it: one-line errors and exit codes, the key kept secret,
SIGTERM and resume. Subprocesses against the mock on a local socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import click
import pytest
import structlog
from click.testing import CliRunner, Result

from batchpoll.cli import _demo as demo_module
from batchpoll.cli._main import cli as main_cli
from batchpoll.mock import running_server
from batchpoll.runner import ITEM_METADATA_KEY

from ._cli import (
    FAST,
    SECRET,
    batchpoll,
    closed_port,
    env,
    fast_mock,
    run_cmd,
    wait_for_lines,
)
from ._helpers import prompts, read_output, reply_ok, write_lines

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """``batchpoll`` in process (click's runner): the errors need no subprocess start-up."""
    for name in [k for k in os.environ if k.startswith("OPENAI_")]:
        monkeypatch.delenv(name)

    def invoke(args: list[str], key: str | None = SECRET) -> Result:
        environ = {"OPENAI_API_KEY": key} if key is not None else {}
        return CliRunner().invoke(main_cli, args[1:], env=environ)

    yield invoke
    structlog.reset_defaults()


def one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.output
    assert lines[-1].startswith("batchpoll: error: "), result.stderr
    assert text in lines[-1]
    assert "Traceback" not in result.output
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert SECRET not in result.output


def test_usage_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(3))
    url = f"http://127.0.0.1:{closed_port()}/v1"
    one_line_error(
        cli(run_cmd(tmp_path, url), key=None),
        2,
        "no API key: set OPENAI_API_KEY (or name another variable with --api-key-env)",
    )
    one_line_error(
        cli([*run_cmd(tmp_path, url), "--api-key-env", "MY_KEY"]), 2, "no API key: set MY_KEY"
    )
    (tmp_path / "bad_tools.py").write_text("def lookup(:\n")
    one_line_error(
        cli([*run_cmd(tmp_path, url), "--tools", str(tmp_path / "bad_tools.py")]),
        2,
        "cannot load tools from",
    )
    write_lines(tmp_path / "in.jsonl", [*prompts(2), {"id": "p0", "prompt": "x"}])
    one_line_error(cli(run_cmd(tmp_path, url)), 2, "duplicate ids in in.jsonl: 'p0' on lines 1, 3")


def test_fatal_errors_are_one_line_with_exit_code_4(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(5))
    missing = run_cmd(tmp_path, "http://127.0.0.1:9/v1")
    missing[2] = str(tmp_path / "missing.jsonl")
    one_line_error(cli(missing), 4, "cannot read input")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    one_line_error(cli(run_cmd(tmp_path, url)), 4, f"cannot reach {url}")
    with running_server(fast_mock(api_key="sk-the-right-key")) as server:
        one_line_error(cli(run_cmd(tmp_path, server.base_url)), 4, "the API rejected the key")
        assert server.state.creates_by_metadata(ITEM_METADATA_KEY) == {}
        # The same command with the right key: nothing was left behind to get in the way.
        fixed = cli(run_cmd(tmp_path, server.base_url, "-q"), key="sk-the-right-key")
        assert fixed.exit_code in (0, 1), fixed.output
    assert len(read_output(tmp_path / "out.jsonl")) == 5
    (tmp_path / "bad.journal").write_text("garbage " * 1000)
    bad_journal = [*run_cmd(tmp_path, url), "--journal", str(tmp_path / "bad.journal")]
    one_line_error(cli(bad_journal), 4, "cannot use journal")


def test_a_run_writes_results_report_and_never_the_key(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    lines = [*prompts(40), "not json", {"id": "r1", "input": "question r1", "model": "m"}]
    write_lines(tmp_path / "in.jsonl", lines)
    report = tmp_path / "report.json"
    with running_server(fast_mock(fail_rate=0.0, tool_rate=0.3)) as server:
        cmd = [*run_cmd(tmp_path, server.base_url), "--report", str(report), "--debug"]
        result = cli(cmd)
    assert result.exit_code == 1, result.output  # the bad line did not complete
    records = read_output(tmp_path / "out.jsonl")
    assert Counter(r["status"] for r in records) == {"completed": 41, "error": 1}
    for r in records:
        if r["status"] == "completed":
            assert reply_ok(f"question {r['id']}", r["output_text"])
    summary = json.loads(report.read_text())["summary"]
    assert summary["by_status"] == {"completed": 41, "error": 1}
    assert summary["exit_code"] == 1
    assert "requests / item" in result.stderr  # the summary table
    assert "batchpoll.job.finished" in result.stderr  # --debug logged every event ...
    everything = result.output
    for path in tmp_path.iterdir():
        everything += path.read_bytes().decode("utf-8", "replace")
    assert SECRET not in everything  # ... and the key is nowhere: output, journal, report, logs
    assert result.stdout == ""  # stdout stays clean


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_stops_with_exit_3_and_the_same_command_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(300))
    with running_server(fast_mock(duration_median_s=0.5, tool_rate=0.1)) as server:
        cmd = run_cmd(tmp_path, server.base_url)
        proc = subprocess.Popen(cmd, env=env(), stderr=subprocess.PIPE, text=True)
        wait_for_lines(tmp_path / "out.jsonl", 30)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 3, stderr
        assert f"{sig.name}: stopping" in stderr
        assert "Traceback" not in stderr
        done_at_stop = len(read_output(tmp_path / "out.jsonl"))
        assert done_at_stop < 300
        again = batchpoll(cmd)
        assert again.returncode in (0, 1), again.stderr
        creates = server.state.creates_by_metadata(ITEM_METADATA_KEY)
    records = read_output(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(300))
    assert creates == {f"p{i}": 1 for i in range(300)}
    assert {r["status"] for r in records} <= {"completed", "failed"}


def test_demo_runs_verifies_and_reports(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's own jobs take 4 s each: shorter ones, with as many tool rounds and the TPM.
    short = replace(demo_module.mock_config(6000, 1, 20_000), **FAST, fail_rate=0.1)
    monkeypatch.setattr(
        demo_module, "mock_config", lambda rpm, seed, tpm: replace(short, rpm=rpm, tpm=tpm)
    )
    report = tmp_path / "demo.json"
    args = ["batchpoll", "demo", "--items", "40", "--rpm", "6000", "--tpm", "20000"]
    result = cli([*args, "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "verified: " in result.stderr
    assert "the mock fails 10% of its jobs on purpose" in result.stderr
    data = json.loads(report.read_text())
    assert data["summary"]["items"] == 40
    assert data["summary"]["tool_rounds"] >= 5
    assert data["summary"]["tokens_reserved"] >= data["server"]["tokens_charged"] * 0.9
    assert (
        data["server"]["function_calls_asked"] == data["server"]["function_call_outputs_received"]
    )
    assert data["server"]["duplicate_creates"]["extra_creates"] == 0
    assert data["verified"] == data["summary"]["by_status"].get("completed")


def test_a_bare_batchpoll_prints_help_and_exits_0(cli: Callable[..., Result]) -> None:
    result = cli(["batchpoll"])
    assert result.exit_code == 0, result.output
    assert "Commands:" in result.stdout
    for command in ("run", "status", "demo", "mock"):
        assert command in result.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["run", "in.jsonl", "-o", "out.jsonl", "--rpm", "0.5"], "invalid value for '--rpm'"),
        (["run", "in.jsonl"], "missing option '-o' / '--output'"),
        (["run", "in.jsonl", "-o", "o", "--retry", "failed,oops"], "unknown status 'oops'"),
        (["run", "in.jsonl", "-o", "o", "--no-such"], "no such option '--no-such'"),
        (["nope"], "no such command 'nope'"),
        (["mock", "--class-rpm", "x"], "expected NAME=N"),
    ],
)
def test_usage_errors_of_click_are_in_batchpolls_style(
    cli: Callable[..., Result], args: list[str], text: str
) -> None:
    result = cli(["batchpoll", *args])
    one_line_error(result, 2, text)
    assert "(see 'batchpoll" in result.stderr  # where to look


def test_a_missing_output_directory_is_named_as_such(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(2))
    cmd = run_cmd(tmp_path, "http://127.0.0.1:9/v1")
    cmd[4] = str(tmp_path / "no-such-dir" / "out.jsonl")
    one_line_error(cli(cmd), 4, f"the output directory {str(tmp_path / 'no-such-dir')!r} does not")


def test_every_option_has_help_and_run_help_teaches_the_input(cli: Callable[..., Result]) -> None:
    commands = {name: main_cli.commands[name] for name in ("run", "mock", "demo", "status")}
    for name, command in commands.items():
        undocumented = [
            p.name for p in command.params if isinstance(p, click.Option) and not p.help
        ]
        assert undocumented == [], name
    text = cli(["batchpoll", "run", "--help"]).stdout
    assert '{"id": "q1", "prompt": "Summarize ..."}' in text  # the line format ...
    assert "batchpoll run items.jsonl -o results.jsonl --model" in text  # ... an example
    assert "Only 'uncertain' can make a job twice" in " ".join(text.split())


def test_retry_failed_then_status_agrees_with_the_output(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(100))
    with running_server(fast_mock(fail_rate=0.1, tool_rate=0.0, seed=3)) as server:
        first = cli(run_cmd(tmp_path, server.base_url, "-q"))
        assert first.exit_code == 1, first.output
        failed = {r["id"] for r in read_output(tmp_path / "out.jsonl") if r["status"] == "failed"}
        assert failed
        again = cli(run_cmd(tmp_path, server.base_url, "-q", "--retry", "failed"))
        assert again.exit_code in (0, 1), again.output
        creates = server.state.creates_by_metadata(ITEM_METADATA_KEY)
    assert {k for k, n in creates.items() if n == 2} == failed
    records = read_output(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(100))
    shown = cli(["batchpoll", "status", str(tmp_path / "out.jsonl"), "--json"])
    assert shown.exit_code == 0, shown.output
    counts = json.loads(shown.stdout)
    assert counts == {"items": 100, **Counter(r["status"] for r in records)}
    text = cli(["batchpoll", "status", str(tmp_path / "out.jsonl")]).stdout
    assert "100 items" in text
    assert f"completed  {counts['completed']}" in text


def test_status_of_a_run_that_has_no_journal_is_one_error(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    one_line_error(cli(["batchpoll", "status", str(tmp_path / "out.jsonl")]), 2, "no journal")
