"""A process that spends a shared RedisBudget as fast as it can, for the multi-process tests.

``python -m tests.redis._worker URL NAME SECONDS [CLASS] [CONCURRENCY]``: prints one line per
grant: the Redis server's TIME right after the grant (another connection, so an independent
clock), then releases the ticket. ``hold``: take grants and never release (to be killed).
"""

from __future__ import annotations

import asyncio
import sys
import time

import redis.asyncio
import structlog

from batchpoll import BudgetSettings, Priority, RedisBudget, RedisSettings
from tests.redis.conftest import PREFIX

SETTINGS = BudgetSettings(600, max_send_delay_s=0.2)
REDIS = RedisSettings(key_prefix=PREFIX, horizon_s=1.0, create_horizon_s=0.5, late_s=0.05)


def budget(url: str, name: str) -> RedisBudget:
    return RedisBudget(url, name=name, settings=SETTINGS, redis=REDIS)


async def main(url: str, name: str, seconds: float, cls: str, concurrency: int) -> None:
    # batchpoll's events on stderr: a test that fails shows what the budget said.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    b = budget(url, name)
    clock = redis.asyncio.Redis.from_url(url)
    end = time.monotonic() + seconds
    priority = Priority.CREATE if cls == "create" else Priority.CHECK

    async def spend() -> None:
        while time.monotonic() < end:
            ticket = await b.acquire(priority)
            sec, usec = await clock.time()
            print(f"{sec}.{usec:06d}", flush=True)
            if cls != "hold":
                ticket.release()

    await asyncio.gather(*(spend() for _ in range(concurrency)))
    print(f"round_trips {b.round_trips}", flush=True)
    await b.aclose()
    await clock.aclose()


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(
        main(args[0], args[1], float(args[2]), args[3] if len(args) > 3 else "check",
             int(args[4]) if len(args) > 4 else 4)
    )  # fmt: skip
