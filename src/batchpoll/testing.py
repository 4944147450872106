"""Virtual time for your own tests: hours of polling in milliseconds, no sleeps, no sockets.

    import batchpoll
    from batchpoll import testing

    async def main() -> None:
        mock, client = testing.mock_client(duration_median_s=600)  # jobs of ten minutes
        async with batchpoll.Poller(client, rpm=1200, clock=testing.clock()) as poller:
            job = await poller.create_response(model="gpt-4o-mini", input="hi")
            assert (await job).status is batchpoll.Status.COMPLETED

    testing.run(main)  # returns at once; the loop's clock read ten minutes and more

``run`` drives a coroutine on an event loop whose clock only moves when every task waits: it
then jumps to the next timer instead of sleeping. Everything that reads the loop's clock
(``LoopClock``, the budget, the scheduler, ``asyncio.sleep`` and timeouts) sees the same
virtual time. Real I/O still works and is waited for in real time, but a socket that is slow
to answer looks instant-timed-out from inside, so pair it with ``mock_client``, whose requests
go straight into the in-process mock (``batchpoll[mock]``) on the same clock.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeVar, TypeVarTuple

from openai import AsyncOpenAI

from ._clock import LoopClock

__all__ = ["EPOCH", "VirtualTimeLoop", "clock", "mock_client", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

#: The Unix time at virtual loop time 0, which ``clock()`` and ``mock_client()`` agree on.
EPOCH = 1_700_000_000.0


class _Selector(selectors.DefaultSelector):
    """Polls real I/O without blocking; when nothing is ready and a timer is pending, the
    loop's clock jumps to that timer instead of waiting for it."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None or self._loop.in_executor:
            # No timer at all, or a thread at work (its result comes through the loop's
            # self-pipe): wait in real time, the clock standing still. Jumping ahead instead
            # made a run depend on how fast the thread was (the SDK looks up the platform in
            # one at its first request: creates then left at different virtual times).
            return super().select(timeout)
        self._loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time, starting at ``start`` seconds."""

    def __init__(self, start: float = 0.0) -> None:
        self._virtual_now = start
        self.in_executor = 0  # run_in_executor calls not finished: time waits for them
        super().__init__(_Selector(self))

    def time(self) -> float:
        return self._virtual_now

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*Ts], T], *args: *Ts
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self.in_executor += 1
        future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, _: object) -> None:
        self.in_executor -= 1

    def advance(self, seconds: float) -> None:
        """Move the clock on (the loop does this itself whenever every task waits)."""
        self._virtual_now += max(0.0, seconds)


def run(main: Callable[[], Awaitable[T]], *, start: float = 0.0) -> T:
    """``main()`` to completion on a fresh ``VirtualTimeLoop``."""
    loop = VirtualTimeLoop(start)
    try:

        async def wrapper() -> T:
            return await main()

        return loop.run_until_complete(wrapper())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def clock() -> LoopClock:
    """The poller's clock for a virtual-time test: Unix time is ``EPOCH`` + loop time, as the
    mock of ``mock_client`` believes (a run's ``expires_at`` lines up)."""
    return LoopClock(epoch=EPOCH)


def mock_client(*, api_key: str = "sk-test", **config: Any) -> tuple[Any, AsyncOpenAI]:
    """The in-process mock (``MockConfig(**config)``) on the running loop's clock, and an SDK
    client with ``api_key`` whose requests go straight into it. Returns ``(app, client)``; the
    mock's state and counters are ``app.state.mock`` (``.stats()``). Needs
    ``batchpoll[mock]``."""
    from .mock import MockConfig, asgi_client, create_app

    loop = asyncio.get_running_loop()
    app = create_app(MockConfig(**config), clock=lambda: EPOCH + loop.time())
    return app, asgi_client(app, api_key=api_key)
