"""Time as an interface. The scheduler never reads a global clock: it asks a ``Clock``.

``now()`` is the event loop's monotonic time, the time every sleep and deadline uses (and the
one aiolimiter uses). ``wall()`` is Unix time, needed only to compare with the server's
timestamps such as a run's ``expires_at``. ``LoopClock`` derives wall time from loop time plus a
fixed offset, so under a virtual-time loop (looptime) both move together and a test can pin the
epoch to whatever its in-process mock server believes.
"""

from __future__ import annotations

import asyncio
import time
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


class LoopClock:
    """The running asyncio loop's clock; ``wall() = epoch + (now() - loop time at start)``.

    ``epoch=None`` takes the real Unix time when first used. Tests that run a mock server on
    virtual time pass the same epoch the mock's clock uses.
    """

    __slots__ = ("_epoch", "_offset")

    def __init__(self, epoch: float | None = None) -> None:
        self._epoch = epoch
        self._offset: float | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        now = self.now()
        if self._offset is None:
            if self._epoch is None:
                self._offset = time.time() - now
            else:
                # epoch is the wall time at loop time 0, as the in-process mock counts it.
                self._offset = self._epoch
        return self._offset + now
