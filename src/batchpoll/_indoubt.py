"""``InDoubt``: at most N requests that create a job (a create, a chain's continuation) between
their token request and their reply — the ones a crash of the process leaves in doubt.

A plain semaphore would serve waiters in arrival order, so a continuation (a tool round's
answer, urgent) could queue behind a hundred creates. Here a released slot goes to the oldest
urgent waiter first, then to the oldest create. A waiter that is cancelled while waiting takes
nothing; one cancelled after it was handed a slot passes it on.

Why it holds: ``_free`` counts slots nobody holds and nobody has been handed; a slot is handed
only by ``release`` (to a waiter, or back to ``_free``) or taken from ``_free`` by an acquirer
that finds no one waiting ahead of it, so holders + handed + free = N at every step.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

__all__ = ["InDoubt", "slot_of"]


class InDoubt:
    def __init__(self, slots: int) -> None:
        self._free = slots
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def slot(self, *, urgent: bool = False) -> _Slot:
        """``async with in_doubt.slot(urgent=...)``: hold one slot for the request."""
        return _Slot(self, urgent)

    def try_acquire(self, *, urgent: bool = True) -> bool:
        """Take a free slot now, if there is one and no waiter it must let go first."""
        ahead = self._urgent or (not urgent and self._normal)
        if self._free > 0 and not ahead:
            self._free -= 1
            return True
        return False

    async def acquire(self, *, urgent: bool = False) -> None:
        if self.try_acquire(urgent=urgent):
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot, then cancelled: pass it on
            elif waiter in queue:  # release() may have dropped it already
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1


class _Slot:
    __slots__ = ("_owner", "_urgent")

    def __init__(self, owner: InDoubt, urgent: bool) -> None:
        self._owner = owner
        self._urgent = urgent

    async def __aenter__(self) -> None:
        await self._owner.acquire(urgent=self._urgent)

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._owner.release()


def slot_of(in_doubt: InDoubt | None) -> contextlib.AbstractAsyncContextManager[None]:
    """A create's slot of ``max_concurrent_creates`` (nothing to hold without a cap)."""
    return contextlib.nullcontext() if in_doubt is None else in_doubt.slot()
