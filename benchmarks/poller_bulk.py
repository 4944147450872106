"""Bulk acceptance of the core: N Assistants runs at once through one Poller, over real sockets.

    .venv/bin/python benchmarks/poller_bulk.py --n 300 --rpm 1200

Starts `batchpoll.mock` on 127.0.0.1 (durations lognormal median 4 s sigma 0.5, 3 % failing,
10 % asking one tool call that expires 20 s after it is asked), runs every item through
`batchpoll.Poller`, checks each reply against the mock's deterministic `expected_reply`, and
prints the client's and the server's figures. The rate-limit bound is the time the necessary
requests alone take at the limit: per item create + one check, + the reply fetch if completed,
+ submit and one more check per tool round.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import structlog
from openai import AsyncOpenAI

import batchpoll
from batchpoll.mock import MockConfig, expected_reply, running_server


@contextlib.contextmanager
def mock_process(config: MockConfig) -> Iterator[str]:
    """`batchpoll mock` in a subprocess on a free port; yields its base URL."""
    cmd = [
        str(Path(sys.executable).with_name("batchpoll")),
        "mock",
        "--port",
        "0",
        "--rpm",
        str(config.rpm),
        "--duration-median",
        str(config.duration_median_s),
        "--duration-sigma",
        str(config.duration_sigma),
        "--fail-rate",
        str(config.fail_rate),
        "--tool-rate",
        str(config.tool_rate),
        "--action-expiry",
        str(config.action_expiry_s),
        "--seed",
        str(config.seed),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.strip().split()[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def fetch_stats(base_url: str) -> dict[str, Any]:
    root = base_url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_mock/stats") as reply:
        stats: dict[str, Any] = json.load(reply)
    return stats


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


async def drive(
    base_url: str, n: int, rpm: int, settings: batchpoll.PollSettings
) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench")
    prompts = [f"item {i}: what is {i} + {i}?" for i in range(n)]
    started = time.monotonic()
    async with batchpoll.Poller(client, rpm=rpm, tools={"lookup": lookup}, poll=settings) as poller:

        async def one(i: int) -> batchpoll.Job:
            return await poller.create_and_run(
                key=str(i),
                assistant_id="asst_bench",
                thread={"messages": [{"role": "user", "content": prompts[i]}]},
                metadata={"batchpoll_item": str(i)},
            )

        jobs = await asyncio.gather(*(one(i) for i in range(n)))
        outcomes = [await job for job in jobs]
        stats = poller.stats()
    makespan = time.monotonic() - started
    return {"prompts": prompts, "outcomes": outcomes, "stats": stats, "makespan_s": makespan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--rpm", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first-check", type=float, default=batchpoll.PollSettings().first_check_s)
    ap.add_argument("--growth", type=float, default=batchpoll.PollSettings().growth)
    ap.add_argument("--strategy", default=batchpoll.PollSettings().strategy)
    ap.add_argument("--lag-weight", type=float, default=batchpoll.PollSettings().lag_weight)
    defaults = batchpoll.PollSettings()
    ap.add_argument("--busy-lag-weight", type=float, default=defaults.busy_lag_weight)
    ap.add_argument("--in-process", action="store_true", help="run the mock in a thread")
    args = ap.parse_args()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    config = MockConfig(
        rpm=args.rpm,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=0.1,
        action_expiry_s=20.0,
        seed=args.seed,
    )
    settings = batchpoll.PollSettings(
        first_check_s=args.first_check,
        growth=args.growth,
        strategy=args.strategy,
        lag_weight=args.lag_weight,
        busy_lag_weight=args.busy_lag_weight,
    )
    if args.in_process:
        with running_server(config) as server:
            result = asyncio.run(drive(server.base_url, args.n, args.rpm, settings))
            server_stats = server.state.stats()
    else:  # a server process of its own, as an independent server would be
        with mock_process(config) as base_url:
            result = asyncio.run(drive(base_url, args.n, args.rpm, settings))
            server_stats = fetch_stats(base_url)
    outcomes: list[batchpoll.Outcome] = result["outcomes"]
    correct = 0
    needed = 0
    by_status: dict[str, int] = {}
    for prompt, outcome in zip(result["prompts"], outcomes, strict=True):
        by_status[outcome.status.value] = by_status.get(outcome.status.value, 0) + 1
        text = outcome.output_text or ""
        n_tools = text.count("result ")
        if outcome.ok and text == expected_reply(
            prompt, [lookup(prompt, r) for r in range(1, n_tools + 1)]
        ):
            correct += 1
        needed += 2 + (1 if outcome.ok else 0) + 2 * n_tools
    requests = sum(o.requests for o in outcomes)
    bound_s = needed / (args.rpm / 60.0)
    figures = {
        "items": args.n,
        "by_status": by_status,
        "correct_outputs": correct,
        "requests": requests,
        "requests_per_item": round(requests / args.n, 3),
        "necessary_requests": needed,
        "makespan_s": round(result["makespan_s"], 2),
        "rate_limit_bound_s": round(bound_s, 2),
        "makespan_over_bound": round(result["makespan_s"] / bound_s, 3),
        "server_429s": server_stats["rate_limited"],
        "server_requests": server_stats["requests_total"],
        "max_accepted_1s": server_stats["max_accepted_1s"],
        "actions_expired": server_stats["actions_expired"],
        "detection_lag_s": server_stats["detection_lag_s"],
        "checks_per_job": server_stats["checks_per_job"],
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
