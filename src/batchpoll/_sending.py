"""One create attempt as the create hooks see it (``Hooks.create_*``, ``_hooks``).

A create (or a continuation: a chain's tool outputs create its next response) is the one
request whose failure can leave something behind on the server. The hooks hear of it at the
one moment it leaves (the tokens granted, right before the call), then whether the server
made it, certainly did not (``Sent.NOT_SENT``), or may have: in the core's terms, decided
once (``_failures.classify``, ``_resend.after_create_failure``), never by the listener. A
poller without hooks does none of this: the steps call the kind directly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._failures import Failure, Sent
from ._hooks import Hooks
from .kinds import Ids

__all__ = ["HookRefused", "Sending"]

T = TypeVar("T")


class HookRefused(Exception):
    """A ``create_sending`` hook raised: the create was not sent."""


class Sending:
    """The hooks' view of one attempt of the create of ``job`` (its key)."""

    __slots__ = ("_continuation", "_hooks", "_job", "left")

    def __init__(self, hooks: Hooks, job: str, *, continuation: bool) -> None:
        self._hooks = hooks
        self._job = job
        self._continuation = continuation
        self.left = False  # the request went out (after create_sending returned)

    def around(self, call: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
        """``call`` with ``create_sending`` right before it (the budget has granted it)."""

        async def attempt() -> T:
            try:
                self._hooks.create_sending(self._job, self._continuation)
            except Exception as exc:
                raise HookRefused(f"a create hook failed: {type(exc).__name__}: {exc}") from exc
            self.left = True
            return await call()

        return attempt

    def sent(self, ids: Ids) -> None:
        self._hooks.create_sent(self._job, ids, self._continuation)

    def failed(self, failure: Failure, *, resend: bool) -> None:
        """The attempt failed (``resend``: the verdict sends it again although it may have
        reached the server). Nothing is said of an attempt that never left."""
        if not self.left:
            return
        if failure.sent is Sent.NOT_SENT:
            self._hooks.create_not_sent(self._job, self._continuation)
        else:
            self._hooks.create_maybe_sent(self._job, self._continuation, failure.error, resend)
