"""Time as an interface. Nothing in batchpoll reads a global clock or sleeps on the loop by
itself: the scheduler, the budgets, the arrival window and every retry ask a ``Clock``.

``now()`` is the event loop's monotonic time, the time every sleep and deadline uses.
``wall()`` is Unix time, needed only to compare with the server's timestamps such as a run's
``expires_at``. ``sleep`` and ``wait`` are the only two ways batchpoll waits for time to pass:
a plain sleep (a retry's backoff), and a sleep that an event cuts short (the scheduler until
the next job is due or a sooner one arrives, the budget's pump until a token or a reply).
``LoopClock`` is the running loop's: its sleeps are the loop's timers, so under a virtual-time
loop (``batchpoll.testing.run``) hours of schedule pass in milliseconds, and wall time is loop
time plus a fixed offset, so a test can pin the epoch to whatever its in-process mock server
believes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "LoopClock"]


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds on the running event loop."""
        ...

    def wall(self) -> float:
        """Unix time in seconds, consistent with ``now()``."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` have passed on this clock."""
        ...

    async def wait(self, event: asyncio.Event, timeout_s: float | None) -> bool:
        """Until ``event`` is set (True) or ``timeout_s`` passed on this clock (False);
        ``None``: no timeout."""
        ...


class LoopClock:
    """The running asyncio loop's clock; ``wall() = epoch + (now() - loop time at start)``.

    ``epoch=None`` takes the real Unix time when first used. Tests that run a mock server on
    virtual time pass the same epoch the mock's clock uses (``batchpoll.testing.clock()``).
    """

    __slots__ = ("_epoch", "_loop", "_offset", "_pinned", "_pins", "_time")

    def __init__(self, epoch: float | None = None) -> None:
        self._epoch = epoch
        self._offset: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Callable[[], float] = time.monotonic
        self._pinned: Callable[[], float] | None = None  # the pinned loop's time, read as is
        self._pins = 0

    def now(self) -> float:
        pinned = self._pinned
        if pinned is not None:
            return pinned()
        # Which loop runs: asked of asyncio, whose answer costs a getpid() system call in
        # CPython 3.11 (its fork check), the largest part of a read. Pinned clocks skip it.
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        return self._time()

    def pin(self) -> Callable[[], None]:
        """Read the running loop's time without asking asyncio which loop runs, until the
        returned function is called (a ``Poller`` pins its clock while it is entered: a check
        reads the clock several times). Pins nest; a pin from a second loop while another
        holds unpins the clock for everyone until every pin is released: it is then asked
        again at each read, slower but right for whichever loop reads it."""
        loop = asyncio.get_running_loop()
        if self._pins == 0:
            self._bind(loop)
            self._pinned = self._time
        elif loop is not self._loop:
            self._pinned = None
        self._pins += 1
        released = False

        def unpin() -> None:
            nonlocal released
            if released:
                return
            released = True
            self._pins -= 1
            if self._pins == 0:
                self._pinned = None

        return unpin

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # asyncio's own loops tell time.monotonic(): read it directly, a Python frame less
        # per read (a check reads the clock several times). A loop that keeps time of its own
        # (a virtual clock, or a patched ``time``) is asked.
        own = getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
        self._time = time.monotonic if own else loop.time

    def wall(self) -> float:
        now = self.now()
        if self._offset is None:
            if self._epoch is None:
                self._offset = time.time() - now
            else:
                # epoch is the wall time at loop time 0, as the in-process mock counts it.
                self._offset = self._epoch
        return self._offset + now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout_s: float | None) -> bool:
        if event.is_set():
            return True
        if timeout_s is None:
            await event.wait()
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await event.wait()
        except TimeoutError:
            return False
        return True
