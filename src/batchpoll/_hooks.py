"""Instrumentation: typed hooks for metrics and tracing, called only when someone listens.

``Poller(hooks=[...])`` takes objects with any of the methods of ``Hooks`` (subclass it and
override what you need: the defaults do nothing). A poller without hooks allocates nothing per
request for them: the engine holds ``None`` and checks for it. A hook that raises is logged
(``batchpoll.poller.hook_failed``) and the run goes on: a broken metrics exporter must not
lose jobs.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._budget import Priority
from ._log import log
from ._outcome import ErrorInfo, Outcome

__all__ = ["Hooks", "fan_out"]


class Hooks:
    """What a poller reports as it goes. Every method is called on the event loop and must
    not block."""

    def request_charged(self, priority: Priority, job: str | None) -> None:
        """An HTTP attempt took its tokens and is being sent (``job``: its key; None for
        ``Poller.request``)."""

    def retried(self, job: str, error: ErrorInfo, streak: int) -> None:
        """A job's request failed transiently and goes back in the heap (``streak``: failures
        in a row)."""

    def throttled(self, limit: str, retry_after_s: float | None) -> None:
        """The server answered 429 for ``limit`` (``"requests"`` or ``"tokens"``)."""

    def job_finished(self, outcome: Outcome) -> None:
        """A job ended (its outcome, whatever the status)."""


class _FanOut(Hooks):
    """Several hooks as one; each call isolated from the others' failures."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Sequence[Hooks]) -> None:
        self._hooks = tuple(hooks)

    def _each(self, method: str, *args: object) -> None:
        for hook in self._hooks:
            try:
                getattr(hook, method)(*args)
            except Exception:
                log.exception(
                    "batchpoll.poller.hook_failed", hook=type(hook).__name__, method=method
                )

    def request_charged(self, priority: Priority, job: str | None) -> None:
        self._each("request_charged", priority, job)

    def retried(self, job: str, error: ErrorInfo, streak: int) -> None:
        self._each("retried", job, error, streak)

    def throttled(self, limit: str, retry_after_s: float | None) -> None:
        self._each("throttled", limit, retry_after_s)

    def job_finished(self, outcome: Outcome) -> None:
        self._each("job_finished", outcome)


def fan_out(hooks: Sequence[Hooks] | None) -> Hooks | None:
    """One object to call, or None when nobody listens."""
    return _FanOut(hooks) if hooks else None
