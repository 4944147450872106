"""A job kind wrapped for the runner: journal each create around the one moment it is sent, and
let an ambiguous create be sent again only as the run's policy says.

``GuardedKind`` wraps the poller's kind adapter (a ``JobKind`` like any other): the poller
calls its ``create`` right after the budget granted the token, so the intent is journaled when
the request really leaves, not while it waits in the queue, and the ids are journaled the
moment the response is parsed. A create that fails *after* it may have reached the server (a
5xx, a timeout, a dropped connection, an unreadable 200) must not be sent again blindly: the
job may exist. The wrapper turns such a failure into ``AmbiguousCreateError``, which ends the
create at once (the poller does not retry it), and the runner then looks for the job (safe
mode) or reports the item ``uncertain`` -- unless ``CreateHooks.may_resend`` says the policy
(``--ambiguous-creates``) sends it again: then the failure goes to the poller as it is, the
journal keeps the item "may have been sent" until a retry is answered, and the outcome says
``retried_ambiguous_create``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import openai
from openai import AsyncOpenAI

from .. import ErrorCode, ErrorInfo, Sent, Tool, classify_failure, http_code
from ..kinds import Ids, JobKind, Reply, Snapshot
from ._items import ITEM_METADATA_KEY

__all__ = [
    "AmbiguousCreateError",
    "ConnectivityWatch",
    "CreateHooks",
    "GuardedKind",
]

T = TypeVar("T")


class AmbiguousCreateError(Exception):
    """A create failed after it may have reached the server; it is not retried."""


class CreateHooks(Protocol):
    def sending(self, key: str) -> None:
        """The create is about to leave (the budget granted it)."""

    def sent(self, key: str, ids: Ids) -> None:
        """The server created the job; ``ids`` are its ids."""

    def continuing(self, key: str) -> None:
        """A chain's next response is about to be created (tool outputs, Responses)."""

    def continued(self, key: str, ids: Ids) -> None:
        """The job goes on under new ids (a chain's next response was created)."""

    def not_continued(self, key: str) -> None:
        """That continuation failed before the server could act on it."""

    def not_sent(self, key: str) -> None:
        """The create failed before the server could act on it."""

    def ambiguous(self, key: str, error: ErrorInfo) -> None:
        """The create failed after the server may have acted on it."""

    def may_resend(self, key: str, exc: BaseException) -> bool:
        """Whether this ambiguous failure is left to the poller to send again (the policy)."""


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


def _error_info(exc: BaseException) -> ErrorInfo:
    if isinstance(exc, openai.APIStatusError):
        return ErrorInfo(http_code(exc.status_code), exc.message)
    if isinstance(exc, openai.APITimeoutError):
        return ErrorInfo(ErrorCode.TIMEOUT, "the create request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return ErrorInfo(ErrorCode.CONNECTION, f"the connection failed: {exc.__cause__ or exc}")
    return ErrorInfo(ErrorCode.MALFORMED_RESPONSE, f"{type(exc).__name__}: {exc}"[:300])


class GuardedKind:
    """``inner`` with journal hooks around ``create`` and a connectivity watch on every call."""

    def __init__(self, inner: JobKind, hooks: CreateHooks, watch: ConnectivityWatch) -> None:
        self.inner = inner
        self._hooks = hooks
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
        key = params["metadata"][ITEM_METADATA_KEY]
        self._hooks.sending(key)
        try:
            reply = await self.inner.create(client, params)
        except Exception as exc:
            self._watch.failed(exc)
            if classify_failure(exc).sent is Sent.NOT_SENT:
                self._hooks.not_sent(key)
                raise
            if self._hooks.may_resend(key, exc):
                raise
            error = _error_info(exc)
            self._hooks.ambiguous(key, error)
            raise AmbiguousCreateError(error.message) from exc
        # A cancellation (BaseException) mid-request leaves the intent journaled: it may
        # have been sent, and resume treats it so.
        self._watch.ok()
        self._hooks.sent(key, reply.value[0])
        return reply

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
        key = (params.get("metadata") or {}).get(ITEM_METADATA_KEY)
        key = key if isinstance(key, str) and self.inner.chained else None
        if key is not None:  # a continuation creates a response: journaled like a create
            self._hooks.continuing(key)
        try:
            reply = await self._watch.watch(
                self.inner.submit_tool_outputs(client, ids, outputs, params)
            )
        except Exception as exc:
            if key is not None and classify_failure(exc).sent is Sent.NOT_SENT:
                self._hooks.not_continued(key)
            raise
        new_ids = reply.value[0]
        if key is not None and new_ids != ids:
            self._hooks.continued(key, new_ids)
        return reply

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        return await self._watch.watch(self.inner.cancel(client, ids))
