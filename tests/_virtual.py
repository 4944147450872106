"""Shared test helpers: virtual time for code that is not a pytest-asyncio test (hypothesis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import looptime
from openai import AsyncOpenAI

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


def virtual_mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    """The in-process mock on the running loop's (virtual) clock, and an SDK client for it."""
    from batchpoll.mock import MockConfig, asgi_client, create_app

    loop = asyncio.get_running_loop()
    app = create_app(MockConfig(**config), clock=lambda: EPOCH + loop.time())
    return app, asgi_client(app, api_key="sk-test-secret")
