"""B6: the same items direct vs ``--via batch`` against the mock (docs/batch.md).

    python -m benchmarks.b6_batch [--items 10000] [--rpm 600]

In process, on virtual time (looptime): the direct run's responses take a lognormal 4 s
(sigma 0.5), 3 % failing; a batch is validating 60 s, runs its lines over 20 min and
finalizes 60 s (compressed: real batches take minutes to hours, up to 24 h). Both runs see
the same items; ``--batch-max-lines`` splits them into 4 batches. Measured: requests spent,
makespan, tokens (the price ratio follows: OpenAI charges a batch's tokens half price), and
the share of the quota's requests the run left free for other work over its makespan.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import looptime

from batchpoll import LoopClock
from batchpoll.mock import MockConfig, asgi_client, create_app
from batchpoll.runner import BatchSettings, ItemDefaults, RunSettings, run_items

EPOCH = 1_700_000_000.0
BATCH_PRICE = 0.5  # OpenAI's Batch API: half the price per token


async def _one(items: int, rpm: float, via_batch: bool, work: Path) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    config = MockConfig(
        rpm=int(rpm),
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=0.0,
        batch_validating_s=60,
        batch_in_progress_s=1200,
        batch_finalizing_s=60,
        batch_line_fail_rate=0.03,
        seed=6,
    )
    app = create_app(config, clock=lambda: EPOCH + loop.time())
    client = asgi_client(app, api_key="sk-b6")
    name = "batch" if via_batch else "direct"
    inp = work / "in.jsonl"
    settings = RunSettings(
        inp,
        work / f"out-{name}.jsonl",
        rpm=rpm,
        defaults=ItemDefaults(model="gpt-4o-mini"),
        seed=1,
        batch=BatchSettings(max_lines=-(-items // 4), expect_s=1320) if via_batch else None,
    )
    start = loop.time()
    summary = await run_items(settings, client, clock=LoopClock(epoch=EPOCH))
    makespan = loop.time() - start
    await client.close()
    capacity = rpm * makespan / 60
    return {
        "run": name,
        "completed": summary.completed,
        "requests": summary.requests,
        "requests_per_item": summary.requests / items,
        "makespan_s": makespan,
        "tokens": summary.tokens_used,
        "quota_free": 1 - summary.requests / capacity if capacity else None,
        "price": BATCH_PRICE if via_batch else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rpm", type=float, default=600)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="batchpoll-b6-"))
    (work / "in.jsonl").write_text(
        "".join(json.dumps({"id": f"i{i}", "input": f"q{i}"}) + "\n" for i in range(args.items))
    )
    rows = []
    for via_batch in (False, True):
        loop = looptime.new_event_loop(start=0.0)
        try:
            rows.append(loop.run_until_complete(_one(args.items, args.rpm, via_batch, work)))
        finally:
            loop.close()
    print(f"B6: {args.items} items at {args.rpm:.0f} RPM (virtual time; batch times compressed)")
    print("| run | completed | requests | requests/item | makespan | tokens | price | quota free |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['run']} | {r['completed']} | {r['requests']} | {r['requests_per_item']:.4f} "
            f"| {r['makespan_s']:.0f} s | {r['tokens']} | {r['price']:.2f} × "
            f"| {100 * r['quota_free']:.1f} % |"
        )


if __name__ == "__main__":
    main()
