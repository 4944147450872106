"""Webhooks + polling: N background responses at once, polling only vs webhooks on vs lossy.

    .venv/bin/python -m benchmarks.webhooks --n 1000 --rpm 1200

Starts `batchpoll mock` as a subprocess on 127.0.0.1 (durations lognormal median 4 s sigma
0.5, 3 % failing) that signs and POSTs `response.*` webhooks to a `WebhookReceiver` served by
this process (same event loop as the Poller), and runs every item through `batchpoll.Poller`:

- polling: no webhooks, the learned schedule;
- webhooks: every event delivered 0.5–1.5 s after the job ends; safety interval 60 s;
- webhooks, 20 % lost: the same with a fifth of the events never sent;
- extras, with ``--only``: 20 % lost with a 20 s safety interval; 20 % of the events sent
  twice and 20 % held back 2.5–7.5 s (reordered).

Correct = completed with the mock's deterministic `expected_reply`, or failed with the mock's
`server_error` (the only way a response fails there). Requests are the mock's own count. The
latency is create → outcome; the detection lag is the mock's (first retrieve that saw the end,
minus the end). Measurements, not tests: nothing asserts on them.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import secrets
import sys
import time
from dataclasses import dataclass
from typing import Any

import structlog
from openai import AsyncOpenAI

import batchpoll
from batchpoll.mock import expected_reply
from batchpoll.webhooks import WebhookReceiver, serve

from ._mockproc import HOST, MockSpec, mock_process
from ._mockproc import stats as mock_stats

SAFETY_S = 60.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    webhooks: bool
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    safety_interval_s: float = SAFETY_S
    default: bool = True  # run without --only


SCENARIOS = (
    Scenario("polling only", webhooks=False),
    Scenario("webhooks", webhooks=True),
    Scenario("webhooks, 20 % lost", webhooks=True, loss=0.2),
    # Extras (--only NAME): the safety net's trade-off, and a messy delivery channel.
    Scenario("webhooks, 20 % lost, safety 20 s", True, 0.2, safety_interval_s=20.0, default=False),
    Scenario(
        "webhooks, 20 % duplicated, 20 % reordered", True, duplicate=0.2, reorder=0.2, default=False
    ),
)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


async def _drive(
    base_url: str, n: int, rpm: int, receiver: WebhookReceiver, scenario: Scenario
) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")
    prompts = [f"item {i}: what is {i} + {i}?" for i in range(n)]
    settings = None
    if scenario.webhooks:
        settings = batchpoll.WebhookSettings(safety_interval_s=scenario.safety_interval_s)
    started = time.monotonic()
    async with batchpoll.Poller(client, rpm=rpm, webhooks=settings) as poller:
        receiver.attach(poller)

        async def one(i: int) -> batchpoll.Job:
            return await poller.create_response(
                key=str(i), model="gpt-bench", input=prompts[i], metadata={"batchpoll_item": str(i)}
            )

        jobs = await asyncio.gather(*(one(i) for i in range(n)))
        outcomes = [await job for job in jobs]
        stats = poller.stats()
    await client.close()
    return {
        "prompts": prompts,
        "outcomes": outcomes,
        "stats": stats,
        "makespan_s": time.monotonic() - started,
    }


def _correct(prompt: str, outcome: batchpoll.Outcome) -> bool:
    if outcome.status is batchpoll.Status.COMPLETED:
        return outcome.output_text == expected_reply(prompt)
    if outcome.status is batchpoll.Status.FAILED:
        return outcome.error is not None and outcome.error.type == "server_error"
    return False


async def _scenario(scenario: Scenario, n: int, rpm: int, seed: int) -> dict[str, Any]:
    # A fresh receiver per scenario: the mock's ids (webhook-id too) repeat with the seed, and
    # a receiver that saw them in the previous scenario would rightly call them duplicates.
    receiver = WebhookReceiver(secret=os.environ["OPENAI_WEBHOOK_SECRET"])
    async with serve(receiver, HOST, 0) as port:
        return await _measure(scenario, n, rpm, seed, receiver, port)


async def _measure(
    scenario: Scenario, n: int, rpm: int, seed: int, receiver: WebhookReceiver, port: int
) -> dict[str, Any]:
    extra: dict[str, str] = {}
    if scenario.webhooks:
        extra = {
            "--webhook-url": f"http://{HOST}:{port}/openai-webhooks",
            "--webhook-delay": "0.5",
            "--webhook-delay-jitter": "1.0",
            "--webhook-loss": str(scenario.loss),
            "--webhook-duplicate": str(scenario.duplicate),
            "--webhook-reorder": str(scenario.reorder),
        }
    spec = MockSpec(rpm=rpm, tool_rate=0.0, seed=seed, extra=extra)
    with mock_process(spec) as base_url:
        result = await _drive(base_url, n, rpm, receiver, scenario)
        server = mock_stats(base_url)
    outcomes: list[batchpoll.Outcome] = result["outcomes"]
    correct = sum(_correct(p, o) for p, o in zip(result["prompts"], outcomes, strict=True))
    by_status: dict[str, int] = {}
    for o in outcomes:
        by_status[o.status.value] = by_status.get(o.status.value, 0) + 1
    latencies = [o.elapsed_s for o in outcomes]
    stats: batchpoll.PollerStats = result["stats"]
    return {
        "scenario": scenario.name,
        "items": n,
        "correct": correct,
        "by_status": by_status,
        "requests": server["requests_total"],
        "requests_per_item": round(server["requests_total"] / n, 3),
        "server_429s": server["rate_limited"],
        "latency_p50_s": round(_pct(latencies, 0.5) or 0.0, 2),
        "latency_p99_s": round(_pct(latencies, 0.99) or 0.0, 2),
        "detection_lag_s": {
            k: None
            if server["detection_lag_s"][k] is None
            else round(server["detection_lag_s"][k], 2)
            for k in ("p50", "p99", "max")
        },
        "makespan_s": round(result["makespan_s"], 1),
        "mock_webhooks": server["webhooks"],
        "receiver": dict(receiver.counts),
        "poller_hints": {"hints": stats.hints, "matched": stats.hints_matched},
    }


async def _main(n: int, rpm: int, seed: int, only: list[str] | None) -> list[dict[str, Any]]:
    results = []
    for scenario in SCENARIOS:
        if (scenario.name not in only) if only else not scenario.default:
            continue
        print(f"… {scenario.name}", file=sys.stderr, flush=True)
        results.append(await _scenario(scenario, n, rpm, seed))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return results


def _table(results: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | correct | requests/item | 429s | latency p50 · p99 (s) "
        "| detection lag p50 · p99 (s) | makespan (s) | webhooks sent · lost |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in results:
        hooks = r["mock_webhooks"]
        lag = r["detection_lag_s"]
        lines.append(
            f"| {r['scenario']} | {r['correct']} / {r['items']} | {r['requests_per_item']:.3f} "
            f"| {r['server_429s']} | {r['latency_p50_s']} · {r['latency_p99_s']} "
            f"| {lag['p50']} · {lag['p99']} | {r['makespan_s']} "
            f"| {hooks['sent']} · {hooks['lost']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rpm", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=1)
    names = ", ".join(repr(s.name) for s in SCENARIOS).replace("%", "%%")  # argparse formats
    ap.add_argument("--only", action="append", help=f"run only this scenario (repeatable): {names}")
    args = ap.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    # The mock subprocess signs with the same secret (it reads $OPENAI_WEBHOOK_SECRET too).
    os.environ.setdefault(
        "OPENAI_WEBHOOK_SECRET", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    )
    results = asyncio.run(_main(args.n, args.rpm, args.seed, args.only))
    print(json.dumps(results, indent=2))
    print(_table(results))


if __name__ == "__main__":
    main()
