"""``batchpoll run --shard K/N --budget redis://...`` as a user meets it: shards at once on one
Redis budget against the mock on a socket (enforcing the limit), a stopped shard resumed with
the same command, then ``batchpoll merge``."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from batchpoll.mock import running_server
from batchpoll.runner import ITEM_METADATA_KEY
from tests.runner._cli import BIN, batchpoll, env, fast_mock, run_cmd, wait_for_lines
from tests.runner._helpers import prompts, read_output, write_lines

pytestmark = pytest.mark.slow
N_ITEMS = 30


def shard_cmd(tmp_path: Path, base_url: str, url: str, name: str, k: int) -> list[str]:
    cmd = run_cmd(tmp_path, base_url, "-q", "--shard", f"{k}/2", "--budget", url)
    cmd[cmd.index("--rpm") + 1] = "1200"
    return [*cmd, "--budget-name", name, "--kind", "responses", "--model", "gpt-test"]


def test_two_shards_share_one_budget_and_merge_with_each_item_once(
    tmp_path: Path, redis_url: str, name: str
) -> None:
    write_lines(tmp_path / "in.jsonl", prompts(N_ITEMS, field="input"))
    mock = fast_mock(rpm=1200, fail_rate=0.0, tool_rate=0.2, seed=5)
    with running_server(mock) as server:
        cmds = [shard_cmd(tmp_path, server.base_url, redis_url, name, k) for k in (1, 2)]
        first = subprocess.Popen(cmds[0], env=env(), stderr=subprocess.PIPE, text=True)
        second = subprocess.Popen(cmds[1], env=env(), stderr=subprocess.PIPE, text=True)
        # Shard 1 stops part way (SIGTERM) and resumes with the same command.
        wait_for_lines(tmp_path / "out.shard-1-of-2.jsonl", 3)
        first.send_signal(signal.SIGTERM)
        _, err1 = first.communicate(timeout=60)
        assert first.returncode in (0, 3), err1
        again = batchpoll(cmds[0])
        assert again.returncode == 0, again.stderr
        _, err2 = second.communicate(timeout=90)
        assert second.returncode == 0, err2
        stats = server.state.stats()
        creates = server.state.creates_by_metadata(ITEM_METADATA_KEY)
    assert stats["rate_limited"] == 0
    assert creates == {f"p{i}": 1 for i in range(N_ITEMS)}
    assert (tmp_path / "out.shard-1-of-2.jsonl.journal").exists()
    out = tmp_path / "out.jsonl"
    shards = [str(tmp_path / f"out.shard-{k}-of-2.jsonl") for k in (1, 2)]
    merged = subprocess.run(
        [BIN, "merge", *shards, "-o", str(out), "--input", str(tmp_path / "in.jsonl")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    records = read_output(out)
    assert sorted(r["id"] for r in records) == sorted(f"p{i}" for i in range(N_ITEMS))
    assert {r["status"] for r in records} == {"completed"}
