"""The jobs a poller knows: the live ones (created, being created or tracked, and not done),
the push keys and early hints that name them, and the counts ``PollerStats`` reports.

No scheduling here: the engine decides when a job is checked; the registry only knows which
jobs exist, admits a new one (``max_in_flight``), and forgets it when it ends.
"""

from __future__ import annotations

import asyncio

from ._hints import WebhookSettings
from ._live import LiveJobs
from ._outcome import Status
from ._pushindex import PushIndex
from ._record import Record
from .kinds import Ids, JobKind

__all__ = ["Registry"]


class Registry:
    __slots__ = (
        "_idle",
        "_max_in_flight",
        "_room",
        "_seq",
        "by_status",
        "checks",
        "created",
        "creating",
        "done",
        "live",
        "push",
    )

    def __init__(self, hints: WebhookSettings, max_in_flight: int | None) -> None:
        self.live = LiveJobs()
        self.push = PushIndex(hints)
        self._max_in_flight = max_in_flight
        self._room = asyncio.Event()  # set when a live job ends: a waiting create may go
        self._idle = asyncio.Event()
        self._idle.set()
        self._seq = 0
        self.creating = 0  # live jobs whose create has not been answered yet
        self.created = 0  # creates answered
        self.done = 0
        self.checks = 0
        self.by_status: dict[str, int] = {}

    @property
    def on_server(self) -> int:
        """Jobs that exist on the server, so need checks (not those still waiting to be
        created: a bulk job's thousand queued creates must not space out the checks)."""
        return len(self.live) - self.creating

    def full(self) -> bool:
        return self._max_in_flight is not None and len(self.live) >= self._max_in_flight

    async def room(self) -> None:
        """Until a live job ends (``max_in_flight``: the caller checks ``full`` again; waiters
        wake in order, which is FIFO enough)."""
        self._room.clear()
        await self._room.wait()

    def add(self, kind: JobKind, ids: Ids, key: str | None, now: float) -> Record:
        self._seq += 1
        job = Record(key if key is not None else f"job-{self._seq}", kind, ids, created_at=now)
        self.live.add(job)
        self._idle.clear()
        return job

    def ended(self, job: Record, status: Status) -> None:
        """``job`` has its outcome: forget it, count it, and let a waiting create go."""
        self.live.discard(job)
        self._room.set()
        self.push.forget(job)
        self.done += 1
        self.by_status[status.value] = self.by_status.get(status.value, 0) + 1
        if not self.live:
            self._idle.set()

    async def idle(self) -> None:
        """Until no job is live."""
        await self._idle.wait()
