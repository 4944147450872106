"""Where a server counts our requests: no 1 s window may hold more than its per-second quantum.

A server that quantizes its RPM limit per second counts each request when it reaches its
limiter, a moment we never see. That moment lies after our grant and before the reply arrives,
and, we assume, no later than ``max_delay_s`` after the grant. So each request occupies our
window from its grant until 1 s after ``min(reply, grant + max_delay_s)``, and the budget grants
only while fewer than ``cap`` requests occupy it.

Then no 1 s window at the server holds more than ``cap`` of ours, whatever the delays in
between: if cap + 1 were counted in (t - 1 s, t], the last of them was granted at or before t,
while each of the other cap was counted after t - 1 s, hence still occupied our window.

The price is one reply latency per second (a few ms against a nearby server), instead of a
fixed slack of whole requests, and it holds when the client or the server stalls for a moment:
the request that stalled keeps its place until its reply is in.

Both lists are kept in time order, so each grant and release costs O(1), not a heap's
O(log n) (a check's largest cost at 50,000 requests a second). Grants come in clock order.
A release's bound ``min(reply, grant + max_delay_s)`` is not always later than the one before
it (a reply more than ``max_delay_s`` late): it is kept as the later of the two. A later bound
only keeps a request in the window longer, so the count stays an upper bound and the proof
above holds; and a bound already more than 1 s old is not kept at all (no window ending after
now can hold it).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["ArrivalWindow", "Ticket"]

_WINDOW_S = 1.0


class _Releaser(Protocol):
    def release(self, ticket: Ticket) -> None: ...


class Ticket:
    """One granted request. ``release()`` when its reply arrived or the attempt ended; a
    ticket never released counts as arriving ``max_delay_s`` after its grant."""

    __slots__ = ("_window", "granted_at", "open")

    def __init__(self, window: _Releaser, granted_at: float) -> None:
        self._window = window
        self.granted_at = granted_at
        self.open = True

    def release(self) -> None:
        """The reply is in (idempotent)."""
        if self.open:
            self._window.release(self)


class ArrivalWindow:
    """At most ``cap`` requests that a server may count within any 1 s."""

    def __init__(
        self,
        cap: int,
        max_delay_s: float,
        clock: Callable[[], float],
        on_release: Callable[[], None] | None = None,
    ) -> None:
        self.cap = cap
        self.max_delay_s = max_delay_s
        self._clock = clock
        self._on_release = on_release
        self._ends: deque[float] = deque()  # latest arrival of each released ticket, in order
        self._open: deque[Ticket] = deque()  # granted tickets, in grant order (released too)
        self._n_open = 0  # tickets still open and not yet aged out

    def grant(self, now: float) -> Ticket:
        ticket = Ticket(self, now)
        self._open.append(ticket)
        self._n_open += 1
        return ticket

    def release(self, ticket: Ticket) -> None:
        ticket.open = False
        self._n_open -= 1
        now = self._clock()
        end = ticket.granted_at + self.max_delay_s
        if end > now:
            end = now
        ends = self._ends
        if end > now - _WINDOW_S:  # else it can be in no window that ends after now
            if ends and end < ends[-1]:
                end = ends[-1]  # the later bound: see the module docstring
            ends.append(end)
        if self._on_release is not None:
            self._on_release()

    def occupied(self, now: float) -> int:
        """Requests that the server may still count in a window ending after ``now``."""
        self._prune(now)
        return len(self._ends) + self._n_open

    def has_room(self, now: float) -> bool:
        """Whether one more grant fits now (``wait_s(now) == 0``, cheaper)."""
        return self.occupied(now) < self.cap

    def wait_s(self, now: float) -> float:
        """Seconds until one more grant fits (0: now). An upper bound: a reply that comes in
        sooner than ``max_delay_s`` frees its place sooner (``on_release`` says when)."""
        count = self.occupied(now)
        if count < self.cap:
            return 0.0
        need = count - self.cap + 1
        if need == 1:  # the usual case: the earliest to leave decides
            first = min(self._ends[0] if self._ends else float("inf"), self._open_top())
        else:  # the cap was lowered under a fuller window
            delay = self.max_delay_s
            arrivals = itertools.chain(
                self._ends, (t.granted_at + delay for t in self._open if t.open)
            )
            first = heapq.nsmallest(need, arrivals)[-1]
        return max(0.0, first + _WINDOW_S - now)

    def _open_top(self) -> float:
        # After _prune the first ticket is open (released ones ahead of it are gone).
        return self._open[0].granted_at + self.max_delay_s if self._open else float("inf")

    def _prune(self, now: float) -> None:
        cutoff = now - _WINDOW_S
        ends = self._ends
        while ends and ends[0] <= cutoff:
            ends.popleft()
        opened = self._open
        delay = self.max_delay_s
        while opened and (not opened[0].open or opened[0].granted_at + delay <= cutoff):
            ticket = opened.popleft()
            if ticket.open:  # aged out unreleased: it arrived long ago, if ever
                ticket.open = False
                self._n_open -= 1
