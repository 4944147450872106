"""Acceptance of ``--via batch`` with real processes (docs/batch.md, "Acceptance").

    python -m benchmarks.batch_acceptance [--items 2000] [--max-lines 600]

Starts ``batchpoll mock`` in its own process (compressed batch times, per-line failures,
the second batch expiring, every reply delayed so a kill can land mid-request), runs
``batchpoll run --via batch`` and SIGKILLs it three times, each at a moment read from its
journal: while an upload is on the wire, while a create is, and while every batch is being
tracked; then reruns it to the end. Prints, from the mock's own counts: uploads and creates
per part, requests per batch beyond the checks, and whether every output line is right.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from batchpoll.mock import expected_reply

BIN = Path(sys.executable).with_name("batchpoll")
KEY = "sk-acceptance"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return json.loads(reply.read())


def _parts(journal: Path) -> list[tuple[int, int, str]]:
    if not journal.exists():
        return []
    try:
        db = sqlite3.connect(f"{journal.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
        try:
            return list(db.execute("SELECT part, attempt, state FROM batch_parts"))
        finally:
            db.close()
    except sqlite3.Error:
        return []


def _run(cmd: list[str], env: dict[str, str], until: Any, log: Path, label: str) -> str:
    """Start the run; SIGKILL it once ``until(parts)`` holds (None: let it finish)."""
    with log.open("a") as out:
        out.write(f"\n--- {label}\n")
        out.flush()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        journal = Path(cmd[cmd.index("-o") + 1] + ".journal")
        while proc.poll() is None:
            if until is not None and until(_parts(journal)):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return f"{label}: SIGKILLed with parts {sorted(_parts(journal))}"
            time.sleep(0.02)
        return f"{label}: exit {proc.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--max-lines", type=int, default=600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batchpoll-accept-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    mock = subprocess.Popen(
        [
            str(BIN), "mock", "--port", str(port), "--api-key", KEY, "--seed", "7",
            "--batch-validating", "2", "--batch-in-progress", "20", "--batch-finalizing", "2",
            "--batch-line-fail-rate", "0.03", "--batch-expire-nth", "2",
            "--latency-ms", "400",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert mock.stdout is not None
        mock.stdout.readline()  # the base URL: it is listening
        inp = work / "in.jsonl"
        inp.write_text(
            "".join(json.dumps({"id": f"i{i}", "input": f"q{i}"}) + "\n" for i in range(args.items))
        )
        out = work / "out.jsonl"
        cmd = [
            str(BIN), "run", str(inp), "-o", str(out), "--base-url", f"{base}/v1",
            "--model", "gpt-4o-mini", "--rpm", "600", "--via", "batch",
            "--batch-max-lines", str(args.max_lines), "--batch-expect", "25",
            "--progress", "plain",
        ]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": KEY}
        log = work / "runs.log"
        print(f"work dir {work}")
        results = [
            _run(cmd, env, lambda p: any(s == "uploading" for *_, s in p), log, "run 1"),
            _run(cmd, env, lambda p: any(s == "creating" for *_, s in p), log, "run 2"),
            _run(
                cmd,
                env,
                lambda p: len(p) >= 4 and all(s in ("created", "collected") for *_, s in p),
                log,
                "run 3",
            ),
            _run(cmd, env, None, log, "run 4"),
        ]
        for line in results:
            print(line)
        stats = _get(f"{base}/_mock/stats")
        records = [json.loads(x) for x in out.read_text().splitlines()]
        by_id = {r["id"]: r for r in records}
        statuses = Counter(r["status"] for r in records)
        wrong = [
            r["id"]
            for r in records
            if r["status"] == "completed" and r["output_text"] != expected_reply(f"q{r['id'][1:]}")
        ]
        no_error = [r["id"] for r in records if r["status"] != "completed" and not r.get("error")]
        print(f"output: {len(records)} lines, {len(by_id)} ids, statuses {dict(statuses)}")
        print(f"  wrong texts: {len(wrong)}, failed lines without their error: {len(no_error)}")
        print(f"uploads per file: {stats['files']['uploads_by_filename']}")
        print(f"creates per part: {stats['batches']['creates_by_metadata']}")
        print(f"batches by status: {stats['batches']['by_status']}")
        print(f"parts (part, attempt, state): {sorted(_parts(Path(str(out) + '.journal')))}")
        per_batch = Counter(r.get("batch_id") for r in records)
        print(f"output lines by batch: {dict(per_batch)}")
        print(f"downloads per file: {stats['files']['downloads_by_file']}")
        routes = {k: sum(v.values()) for k, v in stats["requests_by_route"].items()}
        checks = routes.get("GET /v1/batches/{batch_id}", 0)
        batches = stats["batches"]["created"]
        other = sum(routes.values()) - checks
        print(f"requests by route: {routes}")
        print(
            f"checks: {checks} ({checks / batches:.1f} per batch, "
            f"{stats['batches']['retrieves_by_batch']})"
        )
        print(f"requests per batch beyond the checks: {other / batches:.2f} ({other} / {batches})")
        ok = (
            len(records) == args.items == len(by_id)
            and not wrong
            and not no_error
            and all(n == 1 for n in stats["files"]["uploads_by_filename"].values())
            and all(n == 1 for n in stats["batches"]["creates_by_metadata"].values())
            and other / batches <= 5
        )
        print("ACCEPTED" if ok else "NOT ACCEPTED")
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    main()
