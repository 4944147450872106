"""The plain OpenAI SDK against ``batchpoll mock``: N concurrent ``create_and_run_poll`` calls.

This is what most bulk scripts do today, and why batchpoll exists: each item polls on its own
(1 s fixed interval, the SDK's default retries) and nobody shares the rate budget.

    batchpoll mock --port 8765 --rpm 1200 &
    python examples/sdk_against_mock.py --base-url http://127.0.0.1:8765/v1 --n 300

Prints the outcome counts, then the server's own view (``GET /_mock/stats``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import urllib.request
import warnings
from collections import Counter
from typing import Any

import openai

from batchpoll.mock import tool_output_for

warnings.filterwarnings("ignore", category=DeprecationWarning)  # the Assistants API notice


async def one_item(client: openai.AsyncOpenAI, index: int) -> str:
    run = await client.beta.threads.create_and_run_poll(
        assistant_id="asst_mock",
        thread={"messages": [{"role": "user", "content": f"item {index}"}]},
        metadata={"batchpoll_item": str(index)},
    )
    # Naive tool handling: answer every round with the mock's canonical output.
    while run.status == "requires_action" and run.required_action is not None:
        calls = run.required_action.submit_tool_outputs.tool_calls
        outputs: list[Any] = [
            {"tool_call_id": call.id, "output": tool_output_for(call.function.arguments)}
            for call in calls
        ]
        run = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs
        )
    return run.status


def fetch_stats(base_url: str) -> dict[str, Any]:
    root = base_url.removesuffix("/").removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_mock/stats", timeout=10) as reply:
        stats: dict[str, Any] = json.load(reply)
    return stats


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--api-key", default="sk-mock")
    args = parser.parse_args()

    client = openai.AsyncOpenAI(api_key=args.api_key, base_url=args.base_url)
    started = time.monotonic()
    results = await asyncio.gather(
        *(one_item(client, i) for i in range(args.n)), return_exceptions=True
    )
    elapsed_s = time.monotonic() - started
    await client.close()

    statuses = Counter(r for r in results if isinstance(r, str))
    errors = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    print(f"items: {args.n}  wall time: {elapsed_s:.1f} s")
    print(f"completed: {statuses.get('completed', 0)}  failed: {statuses.get('failed', 0)}")
    others = {k: v for k, v in statuses.items() if k not in ("completed", "failed")}
    print(f"other statuses: {others or '-'}")
    print(f"exceptions: {sum(errors.values())} {dict(errors) or ''}")

    stats = fetch_stats(args.base_url)
    print("server stats:")
    for key in (
        "requests_total",
        "rate_limited",
        "max_accepted_1s",
        "max_accepted_60s",
        "rpm",
        "burst",
        "checks_per_job",
        "detection_lag_s",
        "jobs_by_status",
        "tool_calls_asked",
        "tool_outputs_submitted",
        "actions_expired",
        "creates_total",
        "duplicate_creates",
    ):
        print(f"  {key}: {json.dumps(stats.get(key))}")


if __name__ == "__main__":
    asyncio.run(main())
