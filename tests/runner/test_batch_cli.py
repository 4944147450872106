"""``batchpoll run --via batch`` as a user meets it: a subprocess against the mock on a local
socket, SIGTERM while its batches run (exit 3 at once), then the same command to the end."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from batchpoll.mock import MockConfig, expected_reply, running_server

from ._cli import BIN, batchpoll, env
from ._helpers import read_output, write_lines

pytestmark = pytest.mark.slow

QUICK = {"batch_validating_s": 0.3, "batch_in_progress_s": 3.0, "batch_finalizing_s": 0.3}


def test_sigterm_then_the_same_command_finishes_without_sending_twice(tmp_path: Path) -> None:
    write_lines(tmp_path / "in.jsonl", [{"id": f"i{i}", "input": f"q{i}"} for i in range(50)])
    with running_server(MockConfig(**QUICK, batch_line_fail_rate=0.1, seed=2)) as server:
        cmd = [
            BIN, "run", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"),
            "--base-url", server.base_url, "--model", "gpt-4o-mini", "--via", "batch",
            "--batch-max-lines", "20", "--batch-expect", "4", "--progress", "plain",
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env(), stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while server.state.stats()["batches"]["created"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # real-time ok: waiting on a subprocess
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 3, stderr
        assert "Traceback" not in stderr
        again = batchpoll(cmd)
        assert again.returncode == 1, again.stderr  # some lines fail on purpose
        assert "via batch: " in again.stderr
        stats = server.state.stats()
    records = read_output(tmp_path / "out.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"i{i}" for i in range(50))
    for r in records:
        if r["status"] == "completed":
            assert r["output_text"] == expected_reply(f"q{r['id'][1:]}")
        else:
            assert r["error"]["message"].startswith("HTTP 500"), r
    assert stats["batches"]["created"] == 3
    assert set(stats["files"]["uploads_by_filename"].values()) == {1}
    assert set(stats["batches"]["creates_by_metadata"].values()) == {1}
    assert json.dumps(stats["files"]["downloads_by_file"]).count(": 1") == len(
        stats["files"]["downloads_by_file"]
    )
