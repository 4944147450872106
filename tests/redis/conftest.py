"""Redis for the tests: ``BATCHPOLL_REDIS_URL`` (``.ci/run`` sets it and ``BATCHPOLL_CI``).

Without the variable the tests skip, except under CI (``BATCHPOLL_CI`` or ``CI`` set): there
they fail, so a CI that lost its Redis never turns green by skipping the tests that need it.
Each test gets its own budget name, and every key it made is deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

PREFIX = "batchpoll-test"


def _ci() -> bool:
    return bool(os.environ.get("BATCHPOLL_CI") or os.environ.get("CI"))


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("BATCHPOLL_REDIS_URL")
    if not url:
        if _ci():
            pytest.fail("BATCHPOLL_REDIS_URL is not set under CI: the Redis tests need a Redis")
        pytest.skip("BATCHPOLL_REDIS_URL is not set (.ci/run sets it)")
    return url


@pytest.fixture
async def name(redis_url: str) -> AsyncIterator[str]:
    """A budget name no other test uses; its keys are removed afterwards."""
    budget = f"t-{uuid.uuid4().hex[:10]}"
    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        await r.ping()
    except Exception as exc:
        pytest.fail(f"no Redis answers at {redis_url}: {exc!r}")
    yield budget
    keys = [k async for k in r.scan_iter(f"{PREFIX}:{{{budget}}}:*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


def max_in_1s(times: list[float]) -> int:
    """The most of ``times`` within any window (t - 1 s, t]."""
    ts = sorted(times)
    best, i = 0, 0
    for j, t in enumerate(ts):
        while ts[i] <= t - 1.0:
            i += 1
        best = max(best, j - i + 1)
    return best
