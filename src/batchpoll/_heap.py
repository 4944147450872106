"""The due-time heap: pure data, no clock, no I/O.

Entries are ``(due, seq, item)``. Rescheduling an item pushes a new entry and leaves the old
one in place; the old one is recognised as stale (its ``seq`` is no longer the item's current
one) and skipped when it reaches the top. That keeps every operation O(log n) without a
decrease-key, at the cost of some dead entries, which ``compact`` clears when they dominate.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["DueHeap", "Schedulable"]


class Schedulable(Protocol):
    heap_seq: int  # seq of the item's one live entry; -1 when it has none


T = TypeVar("T", bound=Schedulable)


class DueHeap(Generic[T]):
    __slots__ = ("_counter", "_entries", "_live")

    def __init__(self) -> None:
        self._entries: list[tuple[float, int, T]] = []
        self._counter = itertools.count()
        self._live = 0

    def __len__(self) -> int:
        """Items with a live entry."""
        return self._live

    @property
    def entries(self) -> int:
        """Entries, stale ones included (what the heap's memory holds)."""
        return len(self._entries)

    def push(self, item: T, due: float) -> None:
        """Schedule ``item`` at ``due``, replacing any earlier schedule of it."""
        if item.heap_seq < 0:
            self._live += 1
        seq = next(self._counter)
        item.heap_seq = seq
        entries = self._entries
        heapq.heappush(entries, (due, seq, item))
        if len(entries) > max(64, 4 * self._live):
            self.compact()

    def discard(self, item: T) -> None:
        """Unschedule ``item`` (its entry becomes stale)."""
        if item.heap_seq >= 0:
            item.heap_seq = -1
            self._live -= 1

    def _drop_stale_top(self) -> None:
        entries = self._entries
        while entries and entries[0][2].heap_seq != entries[0][1]:
            heapq.heappop(entries)

    def next_due(self) -> float | None:
        """Due time of the earliest live entry, or None when nothing is scheduled."""
        entries = self._entries
        if not entries:
            return None
        top = entries[0]
        if top[2].heap_seq == top[1]:  # the usual case, without a call (asked per check)
            return top[0]
        self._drop_stale_top()
        return entries[0][0] if entries else None

    def first(self) -> T | None:
        """The earliest live item, left in place; None when nothing is scheduled."""
        entries = self._entries
        if entries and entries[0][2].heap_seq != entries[0][1]:
            self._drop_stale_top()
        return entries[0][2] if entries else None

    def pop_due(self, now: float) -> T | None:
        """Remove and return the earliest item due at ``now`` or before, else None."""
        entries = self._entries
        if entries and entries[0][2].heap_seq != entries[0][1]:
            self._drop_stale_top()
        if not entries or entries[0][0] > now:
            return None
        _, _, item = heapq.heappop(entries)
        item.heap_seq = -1
        self._live -= 1
        return item

    def peek_due(self, now: float, limit: int) -> Iterator[tuple[float, T]]:
        """Up to ``limit`` live items due at ``now`` or before, earliest first, left in place.

        Used to choose among due items by value rather than by due time alone.
        """
        self._drop_stale_top()
        seen = 0
        # Walk the heap as a tree in due order with a small frontier heap of indexes.
        entries = self._entries
        frontier: list[tuple[float, int, int]] = (
            [(entries[0][0], entries[0][1], 0)] if entries else []
        )
        while frontier and seen < limit:
            due, seq, idx = heapq.heappop(frontier)
            if due > now:
                break
            item = entries[idx][2]
            if item.heap_seq == seq:
                seen += 1
                yield due, item
            for child in (2 * idx + 1, 2 * idx + 2):
                if child < len(entries):
                    heapq.heappush(frontier, (entries[child][0], entries[child][1], child))

    def compact(self) -> None:
        """Drop every stale entry (O(n)); called when they outnumber live ones."""
        self._entries = [e for e in self._entries if e[2].heap_seq == e[1]]
        heapq.heapify(self._entries)
