"""A run that makes no progress says why: after ``after_s`` without an item finishing, one
notice naming what the run waits for (the server's jobs, the rate budget after 429s, failing
requests, the token budget), then again at doubling intervals while it lasts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from .. import Clock, logger
from ._summary import RunProgress

__all__ = ["StallWatch", "stall_reason"]

log = logger  # silent until the application configures structlog


class _Watched(Protocol):
    def progress(self) -> RunProgress: ...


def stall_reason(now: RunProgress, then: RunProgress) -> str:
    """Why nothing finished between two snapshots (``then`` when the last item finished)."""
    stalled_s = now.elapsed_s - then.elapsed_s
    requests = now.requests - then.requests
    limited = now.rate_limited - then.rate_limited
    failed = now.transient_errors - then.transient_errors
    head = f"no item finished in {stalled_s:.0f} s ({now.done}/{now.total} done)"
    if limited:
        pause = f", paused {now.paused_s:.0f} s more" if now.paused_s >= 1 else ""
        why = (
            f"the server answered {limited} of {requests} requests with 429 (rate limited): "
            f"the budget is lowered to {now.rate_rpm:.0f}/min{pause}; is --rpm above the "
            "account's limit, or is another client using it?"
        )
    elif failed:
        why = (
            f"{failed} of {requests} requests failed (5xx, timeouts, lost connections): the "
            "server is in trouble; they are retried with backoff"
        )
    elif now.in_flight:
        why = (
            f"{now.in_flight} jobs are still running on the server ({requests} requests in "
            "that time, checks spaced by what the jobs took so far); each may take up to "
            "--timeout"
        )
    elif now.queued:
        why = (
            f"{now.queued} creates wait for the budget and none was sent in that time: the "
            "tokens-per-minute budget (--tpm) may be too small for these inputs"
        )
    else:
        why = f"{requests} requests in that time, nothing in flight"
    return f"{head}: {why}"


class StallWatch:
    def __init__(
        self,
        run: _Watched,
        after_s: float,
        notice: Callable[[str], None],
        clock: Clock,
        every_s: float = 5.0,
    ) -> None:
        self._run = run
        self._clock = clock
        self._after_s = after_s
        self._notice = notice
        self._every_s = min(every_s, after_s / 4)

    async def run(self) -> None:
        then = self._run.progress()
        wait_s = self._after_s
        while True:
            await self._clock.sleep(self._every_s)
            now = self._run.progress()
            if now.done != then.done or now.done >= now.total:
                then, wait_s = now, self._after_s
                continue
            if now.elapsed_s - then.elapsed_s >= wait_s:
                reason = stall_reason(now, then)
                log.warning("batchpoll.run.stalled", reason=reason)
                self._notice(reason)
                wait_s *= 2
