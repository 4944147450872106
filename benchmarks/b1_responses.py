"""B1 on the Responses API: N background responses with function calls, at 1,200 RPM, and
again with inputs of 200 to 12,000 characters under a tokens-per-minute limit that binds.

The mock (its own process, 127.0.0.1) runs lognormal durations (median 4 s, sigma 0.5), 3 %
failing; a response that declares ``lookup`` asks one round of calls with probability 0.3, a
second with 0.3 after that (at most 2), and two calls at once in a round with 0.25. Every
contender starts from fresh mock state (same seed: the same draws, in create order) and has a
hard wall-clock cap. A reply is checked against the mock's own draws for its chain: the root
response's id gives the draw's sequence number (``make_id("resp", seed, seq)``), the draw gives
the rounds, the calls per round and the outcome, ``expected_reply`` the text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from batchpoll.mock import MockConfig, estimate_request_tokens, expected_reply
from batchpoll.mock._ids import make_id
from batchpoll.mock._sim import Draws, draw

from . import _mockproc
from ._contenders_responses import CONTENDERS, MODEL, TOOLS, Contender, Results, Work
from ._env import progress
from ._report import Section, fmt, table, verdict

RPM = 1200
SEED = 1
TOOL_RATE, TOOL_REPEAT_RATE, MAX_ROUNDS, PARALLEL_RATE = 0.3, 0.3, 2, 0.25
MAX_OUTPUT_TOKENS = 256  # workload (b): charged up front on every create and continuation
TOKEN_TO_REQUEST_BOUND = 2.0  # workload (b): tpm is chosen so the token bound is ~2 × requests
# Acceptance figures (issue 12).
TARGET_REQUESTS_RATIO = 1.15
TARGET_MAKESPAN_TOOLS = 1.15
TARGET_MAKESPAN_TPM = 1.2
TARGET_TOKEN_429_SHARE = 0.01


@dataclass(frozen=True, slots=True)
class Workload:
    key: str  # "tools" | "tpm"
    n: int
    long_inputs: bool
    max_output_tokens: int | None

    def prompts(self) -> list[str]:
        return [sized_prompt(i) if self.long_inputs else short_prompt(i) for i in range(self.n)]


def short_prompt(i: int) -> str:
    return f"item {i}: what is {i} + {i}?"


_FILLER = (
    " The quarterly notes list shipments, returns, open tickets and the owners of each,"
    " with dates and the amounts involved."
)


def sized_prompt(i: int) -> str:
    """200 to 12,000 characters, spread evenly over the items (deterministic)."""
    length = 200 + (i * 7919) % 11_801
    head = f"item {i}: summarise these notes in one line."
    body = _FILLER * (length // len(_FILLER) + 1)
    return (head + body)[:length]


def mock_config(tpm: int | None = None) -> MockConfig:
    return MockConfig(
        rpm=RPM,
        tpm=tpm,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=TOOL_RATE,
        tool_repeat_rate=TOOL_REPEAT_RATE,
        max_tool_rounds=MAX_ROUNDS,
        parallel_calls_rate=PARALLEL_RATE,
        model=MODEL,
        seed=SEED,
    )


def mock_spec(tpm: int | None) -> _mockproc.MockSpec:
    extra = {
        "--tool-repeat-rate": str(TOOL_REPEAT_RATE),
        "--max-tool-rounds": str(MAX_ROUNDS),
        "--parallel-calls-rate": str(PARALLEL_RATE),
        "--model": MODEL,
    }
    if tpm is not None:
        extra["--tpm"] = str(tpm)
    return _mockproc.MockSpec(
        rpm=RPM,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=TOOL_RATE,
        seed=SEED,
        extra=extra,
    )


def draws_of(config: MockConfig, seq: int) -> Draws:
    """The mock's draws for its ``seq``-th background response (a chain's root; a
    continuation takes no sequence number)."""
    return draw(config, "response", seq, tools=True, parallel=True)


def round_outputs(prompt: str, d: Draws) -> list[str]:
    """Per round, the outputs of its calls joined by "; " (as the mock joins them)."""
    outputs = []
    for k in range(1, d.tool_rounds + 1):
        parts = [f"result {k}: {prompt}"]
        if d.calls_in_round(k) == 2:
            parts.append(f"result {k}: {prompt} (part 2)")
        outputs.append("; ".join(parts))
    return outputs


@dataclass(frozen=True, slots=True)
class Bound:
    necessary: int  # requests: per item create + one check, per round continuation + check
    seconds: float  # those requests alone at the limit
    tokens: int  # tokens of the necessary POSTs (item i created i-th), guide's tool schema
    non_failing: int
    longest_chain_s: float  # one chain's own work and queueing: no makespan is shorter


def request_bound(w: Workload, config: MockConfig) -> Bound:
    prompts = w.prompts()
    necessary = tokens = non_failing = 0
    longest = 0.0
    for i, prompt in enumerate(prompts):
        d = draws_of(config, i + 1)
        necessary += 2 + 2 * d.tool_rounds
        non_failing += d.outcome == "completed"
        longest = max(longest, d.work_s + config.queue_delay_s * (d.tool_rounds + 1))
        extra = {} if w.max_output_tokens is None else {"max_output_tokens": w.max_output_tokens}
        body: dict[str, Any] = {"model": MODEL, "input": prompt, "tools": TOOLS, **extra}
        tokens += estimate_request_tokens(body)
        for out in round_outputs(prompt, d):
            items = [
                {"type": "function_call_output", "call_id": "c", "output": o}
                for o in out.split("; ")
            ]
            tokens += estimate_request_tokens({**body, "input": items})
    return Bound(necessary, necessary / (RPM / 60.0), tokens, non_failing, longest)


def token_bound_s(tokens: int, tpm: int) -> float:
    """The bucket starts full (one minute's worth), then refills at tpm / 60 per second."""
    return max(0, tokens - tpm) / (tpm / 60.0)


def choose_tpm(bound: Bound) -> int:
    """The TPM that makes the token bound TOKEN_TO_REQUEST_BOUND × the request bound."""
    target_s = TOKEN_TO_REQUEST_BOUND * bound.seconds
    return int(round(bound.tokens / (1 + target_s / 60.0), -3))


# --- checking the replies ---------------------------------------------------------------------


def check(results: Results, config: MockConfig, max_seq: int) -> dict[str, int]:
    """Each item against the draws of its chain: completed with the exact reply, or failed
    as drawn."""
    seq_of = {make_id("resp", config.seed, seq): seq for seq in range(1, max_seq + 1)}
    counts = {"correct": 0, "failed_as_drawn": 0, "wrong": 0, "unmatched": 0, "missing": 0}
    seqs: set[int] = set()
    for i, prompt in enumerate(results.work.prompts):
        if i not in results.finished:
            counts["missing"] += 1
            continue
        status, text = results.finished[i]
        seq = seq_of.get(results.roots.get(i, ""))
        if seq is None:
            counts["unmatched"] += 1
            continue
        seqs.add(seq)
        d = draws_of(config, seq)
        if d.outcome == "completed":
            ok = status == "completed" and text == expected_reply(prompt, round_outputs(prompt, d))
            counts["correct" if ok else "wrong"] += 1
        else:
            counts["failed_as_drawn" if status == d.outcome else "wrong"] += 1
    # The bound counts draws 1..n: true iff the roots took exactly those (no continuation or
    # duplicate create took a sequence number in between).
    counts["roots_drew_1_to_n"] = int(seqs == set(range(1, len(results.work.prompts) + 1)))
    return counts


# --- running ----------------------------------------------------------------------------------


async def _drive(fn: Contender, base_url: str, work: Work, cap_s: float) -> dict[str, Any]:
    results = Results(work)
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")  # default retries: as users do
    ended = "ok"
    try:
        async with asyncio.timeout(cap_s):
            await fn(client, results)
    except TimeoutError:
        ended = f"capped at {cap_s:.0f} s"
    except Exception as exc:  # the script dies here; what it finished so far counts
        ended = f"crashed: {type(exc).__name__}"
    elapsed = time.monotonic() - results.started
    await client.close()
    return {"ended": ended, "elapsed_s": elapsed, "results": results}


def run_contender(
    fn: Contender, base_url: str, work: Work, cap_s: float, config: MockConfig
) -> dict[str, Any]:
    _mockproc.reset(base_url)
    figures = asyncio.run(_drive(fn, base_url, work, cap_s))
    time.sleep(0.5)  # replies in flight when a script died reach the server's stats
    server = _mockproc.stats(base_url)
    results: Results = figures.pop("results")
    max_seq = int(server.get("creates_total", 0)) + len(work.prompts)
    figures.update(
        check(results, config, max_seq),
        finished=len(results.finished),
        by_status=_count(s for s, _ in results.finished.values()),
        lookups=results.lookups,
        extra=results.extra,
        server=server,
    )
    return figures


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def run(key: str, n: int = 300, contenders: list[str] | None = None) -> Section:
    """Workload ``key``: "tools" (a) or "tpm" (b)."""
    w = Workload(key, n, long_inputs=key == "tpm", max_output_tokens=None)
    if key == "tpm":
        w = dataclasses.replace(w, max_output_tokens=MAX_OUTPUT_TOKENS)
    bound = request_bound(w, mock_config())
    tpm = choose_tpm(bound) if key == "tpm" else None
    config = mock_config(tpm)
    work = Work(w.prompts(), RPM, tpm, w.max_output_tokens)
    est_token_s = None if tpm is None else token_bound_s(bound.tokens, tpm)
    cap_s = (
        max(120.0, 3.0 * bound.seconds) if tpm is None else max(120.0, 2.5 * (est_token_s or 0.0))
    )
    names = contenders or list(CONTENDERS)
    rows: dict[str, dict[str, Any]] = {}
    with _mockproc.mock_process(mock_spec(tpm)) as base_url:
        for name in names:
            progress(f"B1 responses/{key} {n} items: {name} (cap {cap_s:.0f} s)")
            r = rows[name] = run_contender(CONTENDERS[name][1], base_url, work, cap_s, config)
            s = r["server"]
            progress(
                f"  {r['ended']}, {r['correct']}/{bound.non_failing} correct, "
                f"{s['rate_limited_requests']} request 429s, {s['rate_limited_tokens']} token "
                f"429s, {s['requests_total']} requests, {r['elapsed_s']:.1f} s"
            )
    data = {
        "workload": dataclasses.asdict(w),
        "rpm": RPM,
        "tpm": tpm,
        "bound": dataclasses.asdict(bound),
        "token_bound_estimate_s": est_token_s,
        "cap_s": cap_s,
        "rows": rows,
    }
    if key == "tpm":
        return _section_tpm(w, bound, tpm or 0, est_token_s or 0.0, rows, data)
    return _section_tools(w, bound, rows, data)


# --- report -----------------------------------------------------------------------------------

_INTRO = (
    "Mock: background responses declaring `lookup`, durations lognormal median 4 s σ 0.5, 3 % "
    "failing; {tool:.0%} ask a round of function calls, {rep:.0%} of those a second (at most "
    "{mx}), a round asks two calls at once with {par:.0%}; 1,200 RPM quantized to 20 per 1 s. "
    "Fresh mock state per contender, hard cap {cap:.0f} s. Correct = completed with exactly "
    "`expected_reply(prompt, outputs)` for the draws of that item's chain (found through its "
    "root response id), out of the non-failing items. Requests and 429s are the server's "
    "counts; detection lag is the server's (finish → first reply showing it)."
)


def _intro(cap_s: float) -> str:
    return _INTRO.format(
        tool=TOOL_RATE, rep=TOOL_REPEAT_RATE, mx=MAX_ROUNDS, par=PARALLEL_RATE, cap=cap_s
    )


def _makespan(r: dict[str, Any]) -> float | None:
    return r["elapsed_s"] if r["ended"] == "ok" else None


def _lag(s: dict[str, Any]) -> str:
    return fmt(s["detection_lag_s"].get("p50"), 2, " s")


def _checks_line(rows: dict[str, dict[str, Any]]) -> str:
    """How the replies were checked, per contender: what was not right, and the two
    cross-checks with the server (calls answered, draws taken)."""
    parts = []
    for name, r in rows.items():
        s = r["server"]
        parts.append(
            f"{name}: {r['wrong']} wrong, {r['missing']} unfinished, {r['unmatched']} without a "
            f"known root; {r['lookups']} tool calls answered (server asked "
            f"{s.get('function_calls_asked', '—')}, {s.get('continuations', '—')} continuations); "
            f"roots drew exactly draws 1..n: {'yes' if r['roots_drew_1_to_n'] else 'no'}"
        )
    return "Checks — " + "; ".join(parts) + "."


def _section_tools(
    w: Workload, bound: Bound, rows: dict[str, dict[str, Any]], data: dict[str, Any]
) -> Section:
    n = w.n
    lines = [
        f"## B1 responses (a): {n:,} background responses with tools at {RPM:,} RPM",
        "",
        _intro(data["cap_s"]),
        "",
        f"Rate-limit bound: {bound.necessary:,} necessary requests "
        f"({bound.necessary / n:.2f}/item: create + one check, + continuation + one check per "
        f"round, from the mock's draws) at {RPM // 60}/s = **{bound.seconds:.1f} s**; "
        f"{bound.non_failing} items do not fail. (The longest chain alone, its work and "
        f"queueing, takes {bound.longest_chain_s:.1f} s.)",
        "",
    ]
    header = [
        "contender",
        "correct",
        "429s",
        "requests/item",
        "× necessary",
        "makespan",
        "× bound",
        "lag p50",
        "ended",
    ]
    body = []
    for name, r in rows.items():
        s = r["server"]
        makespan = _makespan(r)
        body.append(
            [
                CONTENDERS[name][0],
                f"{r['correct']} / {bound.non_failing}",
                f"{s['rate_limited']:,}",
                fmt(s["requests_total"] / n),
                fmt(s["requests_total"] / bound.necessary),
                fmt(makespan, 1, " s") if makespan else f"— ({r['elapsed_s']:.0f} s)",
                fmt(makespan / bound.seconds if makespan else None),
                _lag(s),
                r["ended"],
            ]
        )
    lines += [table(header, body), "", _checks_line(rows), ""]
    if "batchpoll" in rows:
        r = rows["batchpoll"]
        s = r["server"]
        ratio_req = s["requests_total"] / bound.necessary
        makespan = _makespan(r)
        ratio_t = makespan / bound.seconds if makespan else float("inf")
        lines += [
            "Acceptance for batchpoll (issue 12):",
            "",
            table(
                ["target", "figure", "verdict"],
                [
                    [
                        "every non-failing item right",
                        f"{r['correct']} / {bound.non_failing}",
                        verdict(r["correct"] == bound.non_failing),
                    ],
                    ["0 × 429", f"{s['rate_limited']}", verdict(s["rate_limited"] == 0)],
                    [
                        f"requests ≤ {TARGET_REQUESTS_RATIO} × necessary",
                        f"{fmt(ratio_req, 3)} × ({s['requests_total']:,})",
                        verdict(ratio_req <= TARGET_REQUESTS_RATIO),
                    ],
                    [
                        f"makespan ≤ {TARGET_MAKESPAN_TOOLS} × bound ({bound.seconds:.1f} s)",
                        f"{fmt(ratio_t)} × ({r['elapsed_s']:.1f} s)",
                        verdict(ratio_t <= TARGET_MAKESPAN_TOOLS),
                    ],
                ],
            ),
            "",
            _verdict_line(
                "(a) tools",
                [
                    r["correct"] == bound.non_failing,
                    s["rate_limited"] == 0,
                    ratio_req <= TARGET_REQUESTS_RATIO,
                    ratio_t <= TARGET_MAKESPAN_TOOLS,
                ],
            ),
        ]
    return Section(key=f"b1_responses_tools_{n}", markdown="\n".join(lines), data=data)


def _section_tpm(
    w: Workload,
    bound: Bound,
    tpm: int,
    est_token_s: float,
    rows: dict[str, dict[str, Any]],
    data: dict[str, Any],
) -> Section:
    n = w.n
    lines = [
        f"## B1 responses (b): {n:,} background responses, inputs 200–12,000 characters, "
        f"{tpm:,} TPM and {RPM:,} RPM",
        "",
        _intro(data["cap_s"])
        + f" Every create and continuation sends `max_output_tokens={w.max_output_tokens}`; the "
        "mock charges ceil(characters / 4) of input, function-call outputs and tools JSON, plus "
        "`max_output_tokens`, from a per-model bucket of one minute's tokens that starts full.",
        "",
        f"Request bound: {bound.necessary:,} necessary requests at {RPM // 60}/s = "
        f"{bound.seconds:.1f} s. Token bound: (tokens − {tpm:,}) / {tpm / 60:,.0f} per s; "
        f"estimated beforehand from the bodies the items need ({bound.tokens:,} tokens, the "
        f"guide's tool schema, item i drawing the i-th draw) = **{est_token_s:.1f} s** "
        f"({est_token_s / bound.seconds:.2f} × the request bound). Each contender's ratio uses "
        "its own bound from the tokens the mock charged it (`tokens_charged`: the chains' "
        "draws follow the create order, and batchpoll's derived tool schema is longer).",
        "",
    ]
    header = [
        "contender",
        "correct",
        "token 429s",
        "% of creates",
        "request 429s",
        "requests/item",
        "tokens charged",
        "token bound",
        "makespan",
        "× token bound",
        "lag p50",
        "ended",
    ]
    body = []
    figures: dict[str, tuple[float, float]] = {}
    for name, r in rows.items():
        s = r["server"]
        creates = max(1, int(s.get("creates_total", 0)))
        own_s = token_bound_s(int(s["tokens_charged"]), tpm)
        makespan = _makespan(r)
        ratio = makespan / own_s if makespan and own_s > 0 else None
        figures[name] = (own_s, ratio if ratio is not None else float("inf"))
        body.append(
            [
                CONTENDERS[name][0],
                f"{r['correct']} / {bound.non_failing}",
                f"{s['rate_limited_tokens']:,}",
                fmt(100.0 * s["rate_limited_tokens"] / creates, 1, " %"),
                f"{s['rate_limited_requests']:,}",
                fmt(s["requests_total"] / n),
                f"{s['tokens_charged']:,}",
                fmt(own_s, 1, " s"),
                fmt(makespan, 1, " s") if makespan else f"— ({r['elapsed_s']:.0f} s)",
                fmt(ratio),
                _lag(s),
                r["ended"],
            ]
        )
    lines += [table(header, body), "", _checks_line(rows), ""]
    if "batchpoll" in rows:
        r = rows["batchpoll"]
        s = r["server"]
        creates = max(1, int(s.get("creates_total", 0)))
        share = s["rate_limited_tokens"] / creates
        own_s, ratio = figures["batchpoll"]
        stats = r["extra"].get("poller_stats", {})
        checks = [
            r["correct"] == bound.non_failing,
            share <= TARGET_TOKEN_429_SHARE,
            s["rate_limited_requests"] == 0,
            ratio <= TARGET_MAKESPAN_TPM,
        ]
        lines += [
            "Acceptance for batchpoll (issue 12):",
            "",
            table(
                ["target", "figure", "verdict"],
                [
                    [
                        "every item right (of the non-failing)",
                        f"{r['correct']} / {bound.non_failing}",
                        verdict(checks[0]),
                    ],
                    [
                        f"token 429s ≤ {TARGET_TOKEN_429_SHARE:.0%} of creates",
                        f"{s['rate_limited_tokens']} ({100 * share:.1f} % of {creates})",
                        verdict(checks[1]),
                    ],
                    ["0 request 429s", f"{s['rate_limited_requests']}", verdict(checks[2])],
                    [
                        f"makespan ≤ {TARGET_MAKESPAN_TPM} × token bound ({own_s:.1f} s)",
                        f"{fmt(ratio)} × ({r['elapsed_s']:.1f} s)",
                        verdict(checks[3]),
                    ],
                ],
            ),
            "",
            f"batchpoll's own counters: {stats.get('requests', '—')} requests, "
            f"{stats.get('tokens_reserved', '—')} tokens reserved, "
            f"{stats.get('tokens_rate_limited', '—')} token 429s seen; the server's busiest "
            f"60 s took {s.get('max_tokens_60s', 0):,} tokens (up to twice the limit, "
            f"{tpm:,}, can fit: the bucket starts full).",
            "",
            _verdict_line("(b) TPM", checks),
        ]
    return Section(key=f"b1_responses_tpm_{n}", markdown="\n".join(lines), data=data)


def _verdict_line(name: str, checks: list[bool]) -> str:
    met = sum(checks)
    word = "**met**" if met == len(checks) else "**MISSED**"
    return f"Verdict {name}: {word} ({met} of {len(checks)} acceptance figures)."


def main(argv: list[str] | None = None) -> int:
    """A smoke test: one workload, printed (``python -m benchmarks responses`` writes files)."""
    import argparse

    from ._env import quiet

    ap = argparse.ArgumentParser(prog="python -m benchmarks.b1_responses")
    ap.add_argument("workload", choices=["tools", "tpm"])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--only", action="append", choices=list(CONTENDERS))
    args = ap.parse_args(argv)
    quiet()
    print(run(args.workload, args.n, args.only).markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
