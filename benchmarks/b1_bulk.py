"""B1 bulk: N Assistants runs at 1,200 RPM, the ways people poll today against batchpoll.

The mock (its own process, 127.0.0.1) runs lognormal durations (median 4 s, sigma 0.5),
3 % failing, 10 % asking one tool call that expires 20 s after it is asked, quantized to
20 requests per second. Every contender starts from fresh mock state (``/_mock/reset``, same
seed, so the same workload) and has a hard wall-clock cap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from batchpoll.mock import MockConfig, expected_reply
from batchpoll.mock._sim import draw

from . import _mockproc, _plots
from ._contenders import CONTENDERS, Contender, Results
from ._env import progress
from ._report import Section, fmt, image, table, verdict

RPM = 1200
SPEC = _mockproc.MockSpec(
    rpm=RPM, duration_median_s=4.0, duration_sigma=0.5, fail_rate=0.03, tool_rate=0.1
)
TARGET_REQUESTS_PER_ITEM = 3.6
TARGET_MAKESPAN_RATIO = 1.15


@dataclass(frozen=True, slots=True)
class Bound:
    necessary: int  # requests the workload cannot do without
    seconds: float  # those requests alone at the limit


def rate_limit_bound(n: int, spec: _mockproc.MockSpec = SPEC, rpm: int = RPM) -> Bound:
    """Per item: create + one check, + the reply fetch if it completes, + submit and one more
    check per tool round; from the mock's own per-job draws (job n gets draw n)."""
    config = MockConfig(
        rpm=rpm,
        duration_median_s=spec.duration_median_s,
        duration_sigma=spec.duration_sigma,
        fail_rate=spec.fail_rate,
        tool_rate=spec.tool_rate,
        action_expiry_s=spec.action_expiry_s,
        seed=spec.seed,
    )
    necessary = 0
    for seq in range(1, n + 1):
        d = draw(config, "run", seq)
        necessary += 2 + (d.outcome == "completed") + 2 * d.tool_rounds
    return Bound(necessary, necessary / (rpm / 60.0))


def prompts_for(n: int) -> list[str]:
    return [f"item {i}: what is {i} + {i}?" for i in range(n)]


def correct_outputs(results: Results) -> int:
    good = 0
    for i, (status, text) in results.finished.items():
        prompt = results.prompts[i]
        if status == "completed" and text == expected_reply(
            prompt, results.tool_outputs.get(prompt, [])
        ):
            good += 1
    return good


async def _drive(fn: Contender, base_url: str, n: int, cap_s: float) -> dict[str, Any]:
    results = Results(prompts_for(n))
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")  # default retries: as users do
    ended = "ok"
    try:
        async with asyncio.timeout(cap_s):
            await fn(client, results, RPM)
    except TimeoutError:
        ended = f"capped at {cap_s:.0f} s"
    except Exception as exc:  # the script dies here; what it finished so far counts
        ended = f"crashed: {type(exc).__name__}"
    elapsed = time.monotonic() - results.started
    await client.close()
    return {
        "ended": ended,
        "elapsed_s": elapsed,
        "correct": correct_outputs(results),
        "finished": len(results.finished),
        "by_status": _count(s for s, _ in results.finished.values()),
        "extra": results.extra,
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def run_contender(fn: Contender, base_url: str, n: int, cap_s: float) -> dict[str, Any]:
    """One contender on fresh mock state; its client figures and the server's."""
    _mockproc.reset(base_url)
    # A loop of its own: what a crashed script leaves behind is cancelled with it.
    figures = asyncio.run(_drive(fn, base_url, n, cap_s))
    time.sleep(0.5)  # replies in flight when a script died reach the server's stats
    figures["server"] = _mockproc.stats(base_url)
    return figures


def run(n: int, contenders: list[str] | None = None) -> Section:
    names = contenders or list(CONTENDERS)
    cap_s = max(120.0, 0.4 * n)
    bound = rate_limit_bound(n)
    rows: dict[str, dict[str, Any]] = {}
    with _mockproc.mock_process(SPEC) as base_url:
        for name in names:
            progress(f"B1 {n} items: {name} (cap {cap_s:.0f} s)")
            rows[name] = run_contender(CONTENDERS[name][1], base_url, n, cap_s)
            r = rows[name]
            progress(
                f"  {r['ended']}, {r['correct']}/{n} correct, "
                f"{r['server']['rate_limited']} × 429, {r['elapsed_s']:.1f} s"
            )
    return _section(n, bound, rows, cap_s)


def _section(n: int, bound: Bound, rows: dict[str, dict[str, Any]], cap_s: float) -> Section:
    lines = [
        f"## B1 bulk: {n:,} items at {RPM:,} RPM",
        "",
        "Mock: durations lognormal median 4 s σ 0.5, 3 % failing, 10 % one tool call expiring "
        "20 s after it is asked, limit quantized to 20 requests per 1 s. Fresh mock state per "
        f"contender, hard cap {cap_s:.0f} s. Every contender creates with one request "
        "(`create_and_run`) and reads the reply with `messages.list` (the seed's own "
        "three-request creation would add 2 requests/item). Requests and 429s are the "
        "server's counts; detection lag is measured by the server (finish → first reply "
        'showing it), over the jobs the contender saw finish. "× bound" compares like with '
        "like only when (nearly) every output is correct: a contender that loses items stops "
        "early.",
        "",
        f"Rate-limit bound: {bound.necessary:,} necessary requests "
        f"({bound.necessary / n:.2f}/item) at {RPM // 60}/s = **{bound.seconds:.1f} s**.",
        "",
    ]
    header = [
        "contender",
        "correct outputs",
        "429s",
        "requests/item",
        "makespan",
        "× bound",
        "finishes seen",
        "lag p50",
        "lag p99",
        "tool runs expired",
        "ended",
    ]
    body = []
    for name, r in rows.items():
        s = r["server"]
        lag = s["detection_lag_s"]
        finished = r["ended"] == "ok"
        makespan = r["elapsed_s"] if finished else None
        body.append(
            [
                CONTENDERS[name][0],
                f"{r['correct']} / {n}",
                f"{s['rate_limited']:,}",
                fmt(s["requests_total"] / n),
                fmt(makespan, 1, " s") if finished else f"— ({r['elapsed_s']:.0f} s)",
                fmt(makespan / bound.seconds if makespan else None),
                lag["count"],
                fmt(lag["p50"], 2, " s"),
                fmt(lag["p99"], 2, " s"),
                s["actions_expired"],
                r["ended"],
            ]
        )
    lines += [table(header, body), ""]
    if "batchpoll" in rows:
        lines += _targets(n, bound, rows["batchpoll"])
    lines += ["", image(f"b1_bulk_{n}.png", f"B1 bulk, {n} items"), ""]
    _plots.b1_bars(f"b1_bulk_{n}.png", n, bound.seconds, rows, CONTENDERS)
    return Section(
        key=f"b1_{n}",
        markdown="\n".join(lines),
        images=[f"b1_bulk_{n}.png"],
        data={"n": n, "bound": dataclasses.asdict(bound), "rows": rows},
    )


def _targets(n: int, bound: Bound, r: dict[str, Any]) -> list[str]:
    s = r["server"]
    per_item = s["requests_total"] / n
    ratio = r["elapsed_s"] / bound.seconds if r["ended"] == "ok" else float("inf")
    stats = r["extra"].get("poller_stats", {})
    return [
        "Targets for batchpoll:",
        "",
        table(
            ["target", "figure", "verdict"],
            [
                [
                    f"≤ {TARGET_REQUESTS_PER_ITEM} requests/item",
                    fmt(per_item, 3),
                    verdict(per_item <= TARGET_REQUESTS_PER_ITEM),
                ],
                ["0 × 429", f"{s['rate_limited']}", verdict(s["rate_limited"] == 0)],
                [
                    f"makespan ≤ {TARGET_MAKESPAN_RATIO} × bound ({bound.seconds:.1f} s)",
                    f"{fmt(ratio)} × ({r['elapsed_s']:.1f} s)",
                    verdict(ratio <= TARGET_MAKESPAN_RATIO),
                ],
                [
                    "correct outputs (all that the mock lets complete)",
                    f"{r['correct']} / {n}",
                    "—",
                ],
            ],
        ),
        "",
        f"batchpoll's own counters: {stats.get('requests', '—')} requests, "
        f"{stats.get('checks', '—')} checks, {stats.get('rate_limited', '—')} × 429 seen, "
        f"budget rate at the end {fmt(stats.get('rate_rpm'), 0)} of "
        f"{fmt(stats.get('target_rpm'), 0)} RPM.",
    ]
