"""``batchpoll run --webhook-listen``: the receiver in the runner's loop, over real sockets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchpoll.mock import expected_reply, running_server
from tests.runner._cli import batchpoll, closed_port, env, fast_mock, run_cmd

from .conftest import SECRET as WEBHOOK_SECRET

pytestmark = pytest.mark.slow


def test_run_with_webhooks_costs_two_requests_per_item(tmp_path: Path) -> None:
    port = closed_port()
    n = 40
    lines = [json.dumps({"id": str(i), "input": f"q{i}"}) for i in range(n)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    config = fast_mock(
        fail_rate=0.0,
        tool_rate=0.0,
        webhook_url=f"http://127.0.0.1:{port}/openai-webhooks",
        webhook_secret=WEBHOOK_SECRET,
    )
    with running_server(config) as server:
        args = run_cmd(tmp_path, server.base_url, "--kind", "responses", "--model", "m")
        args += ["--webhook-listen", f"127.0.0.1:{port}", "--report", str(tmp_path / "r.json")]
        done = batchpoll(args, environ=env(OPENAI_WEBHOOK_SECRET=WEBHOOK_SECRET), timeout_s=60)
        stats = server.state.stats()
    assert done.returncode == 0, done.stderr
    assert WEBHOOK_SECRET not in done.stdout + done.stderr
    results = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(results) == n
    for r in results:
        assert r["status"] == "completed"
        assert r["output_text"] == expected_reply(f"q{r['id']}")
    assert stats["requests_total"] == 2 * n  # create + one retrieve each
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["latency_p99_s"] < 10  # the push, not the 60 s safety net
    assert stats["webhooks"]["sent"] == n
    assert stats["webhooks"]["failed"] == 0


def test_missing_secret_is_a_one_line_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"input": "x"}\n')
    args = run_cmd(tmp_path, "http://127.0.0.1:9/v1", "--kind", "responses", "--model", "m")
    done = batchpoll([*args, "--webhook-listen", "127.0.0.1:0"])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "batchpoll: error: --webhook-listen needs the webhook signing secret: "
        "set OPENAI_WEBHOOK_SECRET"
    ]
