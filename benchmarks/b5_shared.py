"""B5: one budget shared by N processes through Redis, against `batchpoll mock` (1,200 RPM
enforced, quantized to 20 per 1 s) in a process of its own.

``python -m benchmarks.b5_shared`` (Redis: $BATCHPOLL_REDIS_URL, else 127.0.0.1:6379/0).
For N = 1, 2, 4, 8 worker processes, each keeping its budget saturated:

- shared, all busy: one ``RedisBudget`` of 1,200 RPM for all N;
- shared, half busy: the same, but only half of the processes have work;
- local, half busy: the usual workaround, a local ``Budget`` of 1,200 / N in each process.

Reported: the server's max accepted / received per 1 s and per 60 s window (the runs are
shorter than 60 s, so the 60 s figure is the whole run's count), 429s, throughput as a fraction
of the limit over the measured window, Redis round trips and client CPU per granted request.
Writes benchmarks/results/b5_shared.md and .png.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from . import _mockproc

RPM = 1200
LIMIT_1S = RPM // 60
DURATION_S = 6.0
# Process start (imports: about 1 s each on a busy 2-core machine) and a new budget's birth
# pause (H + D + 1 = 3.35 s), both before the measured window.
LEAD_S = 4.0
LEAD_PER_PROCESS_S = 1.0
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def one(base_url: str, redis_url: str, n: int, mode: str, busy: int) -> dict[str, Any]:
    _mockproc.reset(base_url)
    name = f"b5-{uuid.uuid4().hex[:8]}"
    start = time.time() + LEAD_S + LEAD_PER_PROCESS_S * n
    rpm = RPM if mode == "shared" else RPM / n
    target = redis_url if mode == "shared" else "local"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks._b5_worker",
                base_url,
                target,
                name,
                str(rpm),
                "1" if k < busy else "0",
                str(start),
                str(DURATION_S),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(n)
    ]
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        outs.append(json.loads(out.strip().splitlines()[-1]))
    s = _mockproc.stats(base_url)
    ok = sum(o["ok"] for o in outs)
    granted = sum(o["granted"] for o in outs)
    return {
        "n": n,
        "mode": mode,
        "busy": busy,
        "max_accepted_1s": s["max_accepted_1s"],
        "max_received_1s": s["max_received_1s"],
        "max_accepted_60s": s["max_accepted_60s"],
        "rate_limited": s["rate_limited"],
        "throughput": ok / (RPM / 60 * DURATION_S),
        # Trips over every grant they served: the waiters left at the end still get theirs
        # (counting those trips against the window's grants alone overstated it, 1.5 x at 8).
        "round_trips_per_grant": sum(sum(o["trips"].values()) for o in outs)
        / max(sum(o.get("acquired", o["granted"]) for o in outs), 1),
        "trips": {k: sum(o["trips"].get(k, 0) for o in outs) for k in outs[0]["trips"]},
        "granted": granted,
        "acquired": sum(o.get("acquired", o["granted"]) for o in outs),
        "given_back": sum(o.get("given_back", 0) for o in outs),
        "leases": sum(o.get("leases", 0) for o in outs),
        "cpu_ms_per_grant": 1000 * sum(o["cpu_s"] for o in outs) / max(granted, 1),
    }


def runs(redis_url: str) -> list[dict[str, Any]]:
    rows = []
    spec = _mockproc.MockSpec(rpm=RPM, fail_rate=0.0, tool_rate=0.0, duration_median_s=60.0)
    with _mockproc.mock_process(spec) as base_url:
        for n in (1, 2, 4, 8) if not os.environ.get("B5_ONLY") else (int(os.environ["B5_ONLY"]),):
            rows.append(one(base_url, redis_url, n, "shared", n))
            print(json.dumps(rows[-1]), flush=True)
        for n in (2, 4, 8) if not os.environ.get("B5_ONLY") else ():
            for mode in ("shared", "local"):
                rows.append(one(base_url, redis_url, n, mode, n // 2))
                print(json.dumps(rows[-1]), flush=True)
    return rows


def _split(r: dict[str, Any]) -> str:
    t, g = r.get("trips") or {}, max(r.get("acquired", r.get("granted", 1)), 1)
    if not t:
        return ""
    booked, refused, flush = (t[k] / g for k in ("booked", "refused", "flush"))
    return f"({booked:.2f} booked, {refused:.2f} refused, {flush:.2f} flush)"


def report(rows: list[dict[str, Any]], seconds: float) -> str:
    head = (
        "| N | budget | busy | max 1 s accepted / received (limit 20) | max 60 s window "
        "| 429s | throughput / limit | Redis round trips / grant | client CPU ms / grant |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )

    def kind(r: dict[str, Any]) -> str:
        return "RedisBudget 1,200" if r["mode"] == "shared" else f"local {RPM // r['n']} each"

    lines = [
        f"| {r['n']} | {kind(r)} "
        f"| {r['busy']} of {r['n']} | {r['max_accepted_1s']} / {r['max_received_1s']} "
        f"| {r['max_accepted_60s']} | {r['rate_limited']} | {r['throughput']:.3f} "
        f"| {r['round_trips_per_grant']:.2f} {_split(r)} | {r['cpu_ms_per_grant']:.2f} |"
        for r in rows
    ]
    return (
        "# B5: one budget shared by N processes through Redis\n\n"
        f"`python -m benchmarks.b5_shared` ({seconds:.0f} s). `batchpoll mock --rpm {RPM}` in "
        f"its own process (20 per 1 s enforced), each run {DURATION_S:.0f} s measured; every "
        "busy worker keeps 16 `responses.retrieve` waiting on its budget. The 60 s column is "
        "the whole run's count (runs are shorter than 60 s, the limit there is 1,200). "
        "Throughput counts answered requests in the measured window against 20/s. CPU is the "
        "worker process's (SDK, HTTP and budget), per granted request.\n\n"
        + head
        + "\n".join(lines)
        + "\n\n![B5](b5_shared.png)\n"
    )


def plot(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for mode, busy_half, label in (
        ("shared", False, "RedisBudget, all busy"),
        ("shared", True, "RedisBudget, half busy"),
        ("local", True, "local limit/N, half busy"),
    ):
        pts = [(r["n"], r["throughput"]) for r in rows
               if r["mode"] == mode and (r["busy"] < r["n"]) == busy_half]  # fmt: skip
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=label)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("processes")
    ax.set_ylabel("throughput / limit")
    ax.set_ylim(0, 1.1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "b5_shared.png", dpi=110)


def main() -> None:
    redis_url = os.environ.get("BATCHPOLL_REDIS_URL", "redis://127.0.0.1:6379/0")
    t0 = time.monotonic()
    rows = runs(redis_url)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "b5_shared.md").write_text(report(rows, time.monotonic() - t0), encoding="utf-8")
    (RESULTS / "b5_shared.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    plot(rows)


if __name__ == "__main__":
    main()
