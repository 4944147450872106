"""Shared test helpers: virtual time for code that is not a pytest-asyncio test (hypothesis)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import looptime
from openai import AsyncOpenAI

from batchpoll import testing

T = TypeVar("T")

#: Unix time that in-process mocks and LoopClock agree on in virtual-time tests.
EPOCH = testing.EPOCH


def run_virtual(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh asyncio loop whose clock starts at 0 and fast-forwards."""
    loop = looptime.new_event_loop(start=0.0)
    try:

        async def wrapper() -> T:
            return await main()

        return loop.run_until_complete(wrapper())
    finally:
        loop.close()


def virtual_mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    """The in-process mock on the running loop's (virtual) clock, and an SDK client for it."""
    return testing.mock_client(api_key="sk-test-secret", **config)


#: A mock whose every response asks one tool call, once, and answers at once after it.
ONE_TOOL_ROUND: dict[str, Any] = {
    "tool_rate": 1.0,
    "parallel_calls_rate": 0.0,
    "fail_rate": 0.0,
    "duration_median_s": 0.2,
    "duration_sigma": 0.0,
    "queue_delay_s": 0.0,
    "tool_repeat_rate": 0.0,
}
