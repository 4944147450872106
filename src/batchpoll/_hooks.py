"""Instrumentation: typed hooks for metrics and tracing, called only when someone listens.

``Poller(hooks=[...])`` takes objects with any of the methods of ``Hooks`` (subclass it and
override what you need: the defaults do nothing). A poller without hooks allocates nothing per
request for them: the engine holds ``None`` and checks for it. A hook that raises is logged
(``batchpoll.poller.hook_failed``) and the run goes on: a broken metrics exporter must not
lose jobs.

The ``create_*`` hooks follow each create (and each continuation: a chain's tool outputs
create its next response) around the one moment it leaves, in the core's own terms (``Sent``):
a journal that must know what may exist on the server plugs in here and decides nothing about
failures itself (the bulk runner's does). One exception to the isolation: a
``create_sending`` that raises keeps that create from being sent (the job ends ``internal``),
since a journal that could not record the intent must not let the request leave.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._budget import Priority
from ._log import log
from ._outcome import ErrorInfo, Outcome
from .kinds import Ids

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

    def create_sending(self, job: str, continuation: bool) -> None:
        """A create (``continuation``: of a chain's next response) is about to leave: it
        holds its tokens. Raising keeps it from being sent."""

    def create_sent(self, job: str, ids: Ids, continuation: bool) -> None:
        """The server created it: ``ids`` are the job's (new) ids."""

    def create_not_sent(self, job: str, continuation: bool) -> None:
        """It failed before the server could act on it (a 429, a refused connection, a 4xx):
        nothing exists; it may be sent again."""

    def create_maybe_sent(
        self, job: str, continuation: bool, error: ErrorInfo, resend: bool
    ) -> None:
        """It failed after the server may have acted on it (a 5xx, a timeout, a lost reply):
        the job may exist. ``resend``: the policy (``ambiguous_creates``) sends it again;
        else the job ends ``create_uncertain``."""


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

    def create_sending(self, job: str, continuation: bool) -> None:
        for hook in self._hooks:  # not isolated: see the module docstring
            hook.create_sending(job, continuation)

    def create_sent(self, job: str, ids: Ids, continuation: bool) -> None:
        self._each("create_sent", job, ids, continuation)

    def create_not_sent(self, job: str, continuation: bool) -> None:
        self._each("create_not_sent", job, continuation)

    def create_maybe_sent(
        self, job: str, continuation: bool, error: ErrorInfo, resend: bool
    ) -> None:
        self._each("create_maybe_sent", job, continuation, error, resend)


def fan_out(hooks: Sequence[Hooks] | None) -> Hooks | None:
    """One object to call, or None when nobody listens."""
    return _FanOut(hooks) if hooks else None
