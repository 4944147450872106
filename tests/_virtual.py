"""Shared test helpers: virtual time for code that is not a pytest-asyncio test (hypothesis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import looptime

T = TypeVar("T")

#: Unix time that in-process mocks and LoopClock agree on in virtual-time tests.
EPOCH = 1_700_000_000.0


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh asyncio loop whose clock starts at 0 and fast-forwards."""
    loop = looptime.new_event_loop(start=0.0)
    try:

        async def wrapper() -> T:
            return await main()

        return loop.run_until_complete(wrapper())
    finally:
        loop.close()
