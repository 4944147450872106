"""One process of B5: keeps its budget saturated with cheap requests to the mock.

``python -m benchmarks._b5_worker MOCK_URL REDIS_URL|local NAME RPM BUSY START DURATION``:
waits for wall time START, then for DURATION s sends ``responses.retrieve`` as fast as the
budget grants (16 at once; none if BUSY is 0), and prints one JSON line of its counts.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import openai
from openai import AsyncOpenAI

from batchpoll import Budget, Priority, RedisBudget

CONCURRENCY = 16


async def main(mock: str, redis_url: str, name: str, rpm: float, busy: bool, start: float,
               duration: float) -> None:  # fmt: skip
    shared = redis_url != "local"
    budget: Budget = RedisBudget(redis_url, name=name, rpm=rpm) if shared else Budget(rpm)
    client = AsyncOpenAI(base_url=mock, api_key="sk-b5", max_retries=0)
    counts = {"ok": 0, "rate_limited": 0, "errors": 0}
    first = await client.responses.create(model="gpt-test", input="b5", background=True)
    (await budget.acquire(Priority.CHECK)).release()  # past a new budget's birth pause
    await asyncio.sleep(max(0.0, start - time.time()))
    end = start + duration
    cpu0 = time.process_time()
    trips0 = dict(budget.trips) if isinstance(budget, RedisBudget) else {}
    given0 = budget.given_back if isinstance(budget, RedisBudget) else 0
    leases0 = budget.leases if isinstance(budget, RedisBudget) else 0

    acquired = 0  # every grant since the start, the ones after the end too: the trips and
    # leases counted below include those the waiters still got after the end

    async def spend() -> None:
        nonlocal acquired
        while time.time() < end:
            ticket = await budget.acquire(Priority.CHECK)
            acquired += 1
            if time.time() >= end:
                ticket.release()
                return
            try:
                raw = await client.responses.with_raw_response.retrieve(first.id)
                budget.on_headers(raw.headers)
                counts["ok"] += 1
            except openai.RateLimitError as exc:
                counts["rate_limited"] += 1
                budget.on_rate_limited(None)
                del exc
            except openai.APIError:
                counts["errors"] += 1
            finally:
                ticket.release()

    if busy:
        await asyncio.gather(*(spend() for _ in range(CONCURRENCY)))
    else:
        await asyncio.sleep(max(0.0, end - time.time()))
    cpu = time.process_time() - cpu0
    trips = {k: v - trips0[k] for k, v in budget.trips.items()} if trips0 else {}
    given = budget.given_back - given0 if isinstance(budget, RedisBudget) else 0
    leases = budget.leases - leases0 if isinstance(budget, RedisBudget) else 0
    granted = counts["ok"] + counts["rate_limited"] + counts["errors"]
    print(
        json.dumps(
            {
                **counts,
                "granted": granted,
                "cpu_s": cpu,
                "trips": trips,
                "given_back": given,
                "leases": leases,
                "acquired": acquired,
            }
        ),
        flush=True,
    )
    await budget.aclose()
    await client.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    asyncio.run(main(a[0], a[1], a[2], float(a[3]), a[4] == "1", float(a[5]), float(a[6])))
