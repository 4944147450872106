"""``batchpoll run`` as a process, where the process boundary is the point: a key rejected
mid-run (exit code, message, journal), and the key never written anywhere."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from batchpoll.mock import FaultWindow, running_server
from batchpoll.runner import ITEM_METADATA_KEY, State
from tests.runner._cli import SECRET, env, fast_mock, run_cmd, wait_for_lines
from tests.runner._helpers import prompts, read_output, write_lines

pytestmark = pytest.mark.slow

ROTATED = "sk-rotated-secret-77aa01"


def artifacts(tmp_path: Path, *texts: str) -> str:
    """Everything the runs wrote or printed: streams, output, report, journal (bytes)."""
    everything = "".join(texts)
    for path in sorted(tmp_path.iterdir()):
        everything += path.read_bytes().decode("latin-1")
    return everything


def test_a_key_rejected_mid_run_exits_4_with_one_line_and_a_resumable_journal(
    tmp_path: Path,
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(400))
    out = tmp_path / "out.jsonl"
    # Some faults on checks too, so that retries and their log lines are in the artifacts.
    flaky = FaultWindow(0.0, 1e9, "error", 0.1, "get")
    config = fast_mock(duration_median_s=1.0, fail_rate=0.0, tool_rate=0.2, fault_windows=[flaky])
    with running_server(config) as server:
        cmd = [*run_cmd(tmp_path, server.base_url), "--verbose", "--report", str(tmp_path / "r1")]
        proc = subprocess.Popen(
            cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_for_lines(out, 40)
        server.state.configure(api_key=ROTATED)  # the key is revoked: every request is 401
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 4, stderr
        last = [line for line in stderr.splitlines() if line.strip()][-1]
        assert last.startswith("batchpoll: error: the API rejected the key"), stderr
        assert "Traceback" not in stderr
        assert server.state.stats()["unauthorized"] <= 30  # stopped at once
        written = read_output(out)
        assert 40 <= len(written) < 400
        with sqlite3.connect(tmp_path / "out.jsonl.journal") as db:
            states = dict(db.execute("SELECT key, state FROM items").fetchall())
        # The journal holds what the output holds, and the jobs in flight for the next run.
        assert {k for k, state in states.items() if state == State.DONE.value} == {
            r["id"] for r in written
        }
        assert set(states.values()) <= {State.DONE.value, State.CREATED.value}
        first = artifacts(tmp_path, stdout, stderr)
        assert "batchpoll.job.retry" in first  # --verbose logged the events
        assert SECRET not in first

        again = subprocess.run(
            [*run_cmd(tmp_path, server.base_url), "--debug", "--report", str(tmp_path / "r2")],
            env=env(OPENAI_API_KEY=ROTATED),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        creates = server.state.creates_by_metadata(ITEM_METADATA_KEY)
    records = read_output(out)
    assert Counter(r["id"] for r in records) == {f"p{i}": 1 for i in range(400)}
    assert creates == {f"p{i}": 1 for i in range(400)}
    report = json.loads((tmp_path / "r2").read_text())
    assert report["summary"]["by_status"] == {"completed": 400}
    everything = artifacts(tmp_path, again.stdout, again.stderr)
    assert "batchpoll.job.finished" in everything  # --debug logged every event
    for key in (SECRET, ROTATED):
        assert key not in everything
        assert key not in first
