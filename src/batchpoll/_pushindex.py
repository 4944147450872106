"""The jobs a push can name: live jobs by the server id their events carry, and the hints
that came before their job (an event can beat the create's reply).

A hint never ends a job: it marks the job ``hinted`` and the engine makes it due, so one
check through the budget reads the result. Counters feed ``PollerStats``.
"""

from __future__ import annotations

from typing import cast

from ._hints import PendingHints, WebhookSettings
from ._log import log
from ._record import Record
from .kinds import Ids

__all__ = ["PushIndex", "push_key"]


def push_key(job: Record) -> str | None:
    """The server id that OpenAI's events name for this job, when its kind has events."""
    key_of = getattr(job.kind, "webhook_key", None)
    return None if key_of is None else cast("str | None", key_of(job.ids))


class PushIndex:
    __slots__ = ("_by_key", "_pending", "hints", "matched")

    def __init__(self, settings: WebhookSettings) -> None:
        self._by_key: dict[str, Record] = {}
        self._pending = PendingHints(settings.pending_ttl_s, settings.max_pending)
        self.hints = 0  # hints received
        self.matched = 0  # of those, for a job in flight (at once, or when it appeared)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def register(self, job: Record, now: float) -> bool:
        """Index a job that now has its server ids; True (and the job hinted) when a hint
        was already waiting for it."""
        key = push_key(job)
        if key is None:
            return False
        self._by_key[key] = job
        if self._pending.take(key, now):
            job.hinted = True
            self.matched += 1
            log.debug("batchpoll.webhook.matched_late", job=job.key)
            return True
        return False

    def forget(self, job: Record) -> None:
        key = push_key(job)
        if key is not None and self._by_key.get(key) is job:
            del self._by_key[key]

    def rekey(self, job: Record, ids: Ids, now: float) -> None:
        """The job continues as a new server object (the next response of a chain)."""
        self.forget(job)
        job.ids = ids
        if job.chain is not None:
            job.chain.append("/".join(ids.values()))
        job.usage_due = True
        self.register(job, now)

    def hint(self, server_id: str, now: float) -> Record | None:
        """The live job a push names, now hinted; None when there is none yet (the hint is
        kept for a while) or it has ended."""
        self.hints += 1
        job = self._by_key.get(server_id)
        if job is None:
            self._pending.add(server_id, now)
            return None
        if job.done():
            return None
        self.matched += 1
        job.hinted = True
        return job
