"""Is the server there at all? A connectivity watch on every request of the run's jobs.

A base URL that is wrong or down fails every request with a connection error before the server
ever answers; retrying those forever would look like a run that hangs. ``ConnectivityWatch``
tells that apart from transient network trouble (connection failures before any answer,
``threshold`` times, are fatal), and ``WatchedKind`` puts it on every call of a job kind. What
a failure means for a create (sent, not sent, maybe sent) is the core's to say: the run's
journal hears it through ``Hooks.create_*`` (``_resume.Creator``), never from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import openai
from openai import AsyncOpenAI

from .. import Tool
from ..kinds import Ids, JobKind, Reply, Snapshot

__all__ = ["ConnectivityWatch", "WatchedKind"]

T = TypeVar("T")


class ConnectivityWatch:
    """Tells 'the base URL is unreachable' apart from transient network trouble: connection
    failures before the server ever answered, ``threshold`` times, are fatal."""

    def __init__(self, on_unreachable: Callable[[str], None], *, threshold: int = 3) -> None:
        self._on_unreachable = on_unreachable
        self._threshold = threshold
        self._failures = 0
        self.reached = False

    def ok(self) -> None:
        self.reached = True

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, openai.APIStatusError):
            self.reached = True  # an HTTP answer, whatever it says
        elif isinstance(exc, openai.APIConnectionError) and not self.reached:
            self._failures += 1
            if self._failures == self._threshold:
                cause = exc.__cause__
                detail = str(cause) if cause is not None and str(cause) else type(exc).__name__
                self._on_unreachable(detail)

    async def watch(self, call: Awaitable[T]) -> T:
        try:
            result = await call
        except Exception as exc:
            self.failed(exc)
            raise
        self.ok()
        return result


class WatchedKind:
    """``inner`` with the connectivity watch on every call."""

    def __init__(self, inner: JobKind, watch: ConnectivityWatch) -> None:
        self.inner = inner
        self._watch = watch

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def chained(self) -> bool:
        return self.inner.chained

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Tool]) -> Mapping[str, Any]:
        return self.inner.prepare(params, tools)

    def metered(
        self, ids: Ids, outputs: Sequence[tuple[str, str]] | None, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        return self.inner.metered(ids, outputs, params)

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        return await self._watch.watch(self.inner.create(client, params))

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        return await self._watch.watch(self.inner.check(client, ids))

    def webhook_key(self, ids: Ids) -> str | None:
        """The inner kind's (optional) webhook key: wrapping must not hide pushes."""
        key_of = getattr(self.inner, "webhook_key", None)
        return None if key_of is None else cast("str | None", key_of(ids))

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return self.inner.needs_fetch(snapshot)

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        return await self._watch.watch(self.inner.fetch_output(client, ids))

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        return await self._watch.watch(self.inner.submit_tool_outputs(client, ids, outputs, params))

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        return await self._watch.watch(self.inner.cancel(client, ids))
