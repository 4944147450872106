"""Acceptance of sharded runs on one Redis budget (#18, docs/scale-out.md), real processes.

    python -m benchmarks.shard_acceptance [plain|kill|competitor|redis-down ...]

Each scenario: ``batchpoll mock --rpm 1200`` in its own process (20 per 1 s enforced; the
design brief's workload: Assistants runs, durations lognormal median 4 s, 3 % failing, 10 %
asking one tool call that expires 20 s after it is asked), a redis-server of its own on a free
port, 300 items split by ``batchpoll run --shard K/3 --budget redis://...`` run at once, then
``batchpoll merge``. Prints, from the mock's own counts: 429s, the most requests it received
in any 1 s, creates per item, tool-call expiries, wrong replies, the makespan against the
bound (960 necessary requests at 20/s = 48 s).

- ``kill``: shard 2 is SIGKILLed once 40 of its items are out, and restarted;
- ``competitor``: a 4th process sends its own creates and checks through
  ``Poller(budget=RedisBudget(...))`` while the shards run;
- ``redis-down``: the redis-server is stopped for 10 s mid-run, then started again (empty).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from batchpoll.mock import expected_reply

from . import _mockproc

BIN = str(Path(sys.executable).with_name("batchpoll"))
KEY = "sk-acceptance"
ITEMS = 300
SHARDS = 3
BOUND_S = 48.0
TOOLS = 'def lookup(query: str, round: int) -> str:\n    return f"result {round}: {query}"\n'


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


def reply_ok(prompt: str, text: str | None) -> bool:
    answers = [
        expected_reply(prompt, [lookup(prompt, r) for r in range(1, k + 1)]) for k in range(4)
    ]
    return text in answers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_start(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


COMPETITOR = """
import asyncio, sys, time
from openai import AsyncOpenAI
from batchpoll import Poller, RedisBudget
async def main(base, url, seconds):
    client = AsyncOpenAI(base_url=base, api_key="sk-acceptance", max_retries=0)
    budget = RedisBudget(url, name="acceptance", rpm=1200)
    end = time.monotonic() + seconds
    n = 0
    async with Poller(client, budget=budget) as p:
        jobs = []
        while time.monotonic() < end:
            jobs.append(await p.create_response(model="gpt-test", input=f"other {n}"))
            n += 1
            await asyncio.sleep(0.5)
        done = [await j for j in jobs]
    print(len(done), sum(o.status.value == "completed" for o in done))
asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


def scenario(kind: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"shards-{kind}-"))
    (tmp / "tools.py").write_text(TOOLS)
    with (tmp / "in.jsonl").open("w") as f:
        for i in range(ITEMS):
            f.write(json.dumps({"id": f"p{i}", "prompt": f"question p{i}"}) + "\n")
    port = free_port()
    redis = redis_start(port)
    url = f"redis://127.0.0.1:{port}/0"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}}
    env["OPENAI_API_KEY"] = KEY
    spec = _mockproc.MockSpec(rpm=1200, extra={"--api-key": KEY})
    with _mockproc.mock_process(spec) as base_url:

        def cmd(k: int) -> list[str]:
            return [
                BIN, "run", str(tmp / "in.jsonl"), "-o", str(tmp / "out.jsonl"), "-q",
                "--base-url", base_url, "--rpm", "1200", "--assistant-id", "asst_1",
                "--tools", str(tmp / "tools.py"), "--shard", f"{k}/{SHARDS}",
                "--budget", url, "--budget-name", "acceptance",
            ]  # fmt: skip

        t0 = time.monotonic()
        procs = {k: subprocess.Popen(cmd(k), env=env) for k in range(1, SHARDS + 1)}
        other = None
        if kind == "competitor":
            other = subprocess.Popen(
                [sys.executable, "-c", COMPETITOR, base_url, url, "40"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
        notes: dict[str, Any] = {}
        if kind == "kill":
            while lines(tmp / "out.shard-2-of-3.jsonl") < 40:
                time.sleep(0.05)
            procs[2].send_signal(signal.SIGKILL)
            procs[2].wait()
            notes["killed_at_s"] = round(time.monotonic() - t0, 1)
            procs[2] = subprocess.Popen(cmd(2), env=env)
        if kind == "redis-down":
            while sum(lines(tmp / f"out.shard-{k}-of-3.jsonl") for k in (1, 2, 3)) < 100:
                time.sleep(0.05)
            redis.kill()
            redis.wait()
            notes["redis_stopped_at_s"] = round(time.monotonic() - t0, 1)
            time.sleep(10)
            redis = redis_start(port)
        codes = {k: p.wait(timeout=600) for k, p in procs.items()}
        makespan = time.monotonic() - t0
        if other is not None:
            out, _ = other.communicate(timeout=300)
            notes["competitor_jobs_done_completed"] = out.strip()
        stats = _mockproc.stats(base_url)
    redis.kill()
    redis.wait()
    merged = subprocess.run(
        [BIN, "merge", *(str(tmp / f"out.shard-{k}-of-3.jsonl") for k in (1, 2, 3)),
         "-o", str(tmp / "out.jsonl"), "--input", str(tmp / "in.jsonl")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    records = [json.loads(x) for x in (tmp / "out.jsonl").read_text().splitlines()]
    by_status: dict[str, int] = {}
    wrong = 0
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
        if r["status"] == "completed" and not reply_ok(f"question {r['id']}", r.get("output_text")):
            wrong += 1
    dup = stats["duplicate_creates"]
    return {
        "scenario": kind,
        "exit_codes": codes,
        "merge_exit": merged.returncode,
        "merge_says": (merged.stdout + merged.stderr).strip(),
        "items_out": len(records),
        "by_status": by_status,
        "wrong_replies": wrong,
        "rate_limited": stats["rate_limited"],
        "max_received_1s": stats["max_received_1s"],
        "max_accepted_60s": stats["max_accepted_60s"],
        "creates_total": stats["creates_total"],
        "extra_creates": dup["extra_creates"],
        "actions_expired": stats["actions_expired"],
        "makespan_s": round(makespan, 1),
        "makespan_vs_bound": round(makespan / BOUND_S, 2),
        # From the shards' launch to the mock's first request (start-up and the budget's
        # birth pause), measured as the makespan less the mock's time since that request.
        "first_request_s": round(makespan - (stats.get("elapsed_s") or 0.0), 1),
        **notes,
    }


def main() -> None:
    kinds = sys.argv[1:] or ["plain", "kill", "competitor", "redis-down"]
    for kind in kinds:
        print(json.dumps(scenario(kind)), flush=True)


if __name__ == "__main__":
    main()
