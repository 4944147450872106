"""A tokens-per-minute budget per model: a create or continuation reserves its estimated tokens
(``_estimate``) before it takes a request token; checks cost no tokens and never come here.

Each model has its own bucket (``_tokenbucket``: the rules, and why the server never sees a
request that does not fit). This module adds what needs a loop: waiting, priorities, pauses,
corrections from usage, and statistics.

**Waiting.** Waiters queue per model and priority class: continuations (``Priority.SUBMIT``:
a chain is half done, its tools already ran) before creates (``Priority.CREATE``), FIFO within
a class and no skipping, so a large create is never starved by small ones behind it. One pump
task computes the earliest moment a head fits, sleeps until then or until an event (a new
waiter, a reply, a refund, a 429), and grants: no task per waiter, nothing runs while idle.

**Pause.** A token 429 pauses that model's reserves until ``retry-after`` (or the default
pause) and empties its level. Other models, and every check, go on.

**Usage.** ``settle`` takes the reply's real usage. Where a model's replies carry token headers,
those are the truth: the server's limiter charges its own estimate at request time (OpenAI: the
limit counts the maximum output plus the estimated input), not the final usage, so scaling our
estimates by usage would make them disagree with what it counts. Where no token header is ever
seen (some compatible servers), a per-model EWMA of real / estimated tokens, bounded to
``[usage_ratio_min, usage_ratio_max]``, scales later charges. Real tokens are summed for the
stats either way (the CLI shows tokens per second against the limit).

**Too large.** A request above the model's whole limit (configured, or learned lower) raises
``RequestTooLargeError`` at once, also for a waiter stranded by a lowered limit.

**Order, per attempt:** ``grant = await reserve(model, estimate_tokens(params), priority)``,
then the request token, then ``grant.sending()`` and send; then
``grant.settle(usage, headers=reply.headers)``, or on a 429 or a refused connection
``grant.refund(headers=...)`` (plus ``on_rate_limited`` for a token 429), or ``settle()`` after
any other failure (it may have been counted). Checks: ``on_headers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from ._budget import Priority
from ._clock import Clock, LoopClock
from ._errors import BatchpollError, ConfigurationError
from ._failures import ErrorCode
from ._headers import parse_rate_limit_headers
from ._log import log
from ._outcome import ErrorInfo
from ._tokenbucket import ModelBucket, ModelTokenStats

__all__ = [
    "ModelTokenStats",  # defined with the bucket it describes
    "RequestTooLargeError",
    "TokenBudget",
    "TokenGrant",
    "TokenSettings",
    "TokenStats",
]


_MIN_WAIT_S = 1e-6  # every wait moves a (virtual) clock on, as in the request budget


class RequestTooLargeError(BatchpollError):
    """A request needs more tokens than the model's whole limit: no wait makes it fit."""

    def __init__(self, model: str, tokens: int, limit: float) -> None:
        super().__init__(
            f"request too large for {model}: {tokens} tokens, the limit is {limit:g} per minute"
        )
        self.model = model
        self.tokens = tokens
        self.limit = limit

    def error_info(self) -> ErrorInfo:
        """The job's error outcome: the same code as the server's own "Request too large"."""
        return ErrorInfo(ErrorCode.REQUEST_TOO_LARGE, str(self))


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """Tokens per minute, per model: ``tpm`` for every model not in ``per_model_tpm``. The
    budget spends ``limit × headroom``; headers may lower a limit, never raise it above this."""

    tpm: float
    per_model_tpm: Mapping[str, float] = field(default_factory=dict)
    headroom: float = 1.0
    initial_s: float = 2.0  # refill a bucket starts with, until the server says more
    probe: bool = True  # a model's first request may go at once (see _tokenbucket)
    default_pause_s: float = 1.0  # pause after a token 429 without retry-after
    usage_weight: float = 0.2  # EWMA weight of each reply's real / estimated tokens ...
    usage_ratio_min: float = 0.5  # ... bounded to this range
    usage_ratio_max: float = 2.0

    def __post_init__(self) -> None:
        limits = [self.tpm, *self.per_model_tpm.values()]
        if not all(math.isfinite(t) and t > 0 for t in limits):
            raise ConfigurationError("tpm must be > 0 and finite, for every model")
        if not (0 < self.headroom <= 1 and self.initial_s >= 0 and self.default_pause_s >= 0):
            raise ConfigurationError("need 0 < headroom <= 1, initial_s and default_pause_s >= 0")
        if not (
            0 < self.usage_weight <= 1 and 0 < self.usage_ratio_min <= 1 <= self.usage_ratio_max
        ):
            raise ConfigurationError("need 0 < usage_weight <= 1, 0 < ratio_min <= 1 <= ratio_max")
        object.__setattr__(self, "per_model_tpm", MappingProxyType(dict(self.per_model_tpm)))

    def tpm_for(self, model: str) -> float:
        return self.per_model_tpm.get(model, self.tpm)


@dataclass(frozen=True, slots=True)
class TokenStats:
    models: Mapping[str, ModelTokenStats]
    reserved: int
    spent: int
    waiting: int
    rate_limited: int
    too_large: int


class _Model:
    """A model's bucket plus its queues and counters."""

    __slots__ = ("bucket", "name", "queues", "ratio", "waiting")

    def __init__(self, name: str, settings: TokenSettings, now: float) -> None:
        self.name = name
        self.bucket = ModelBucket(
            settings.tpm_for(name),
            now,
            headroom=settings.headroom,
            initial_s=settings.initial_s,
            probe=settings.probe,
        )
        self.queues: tuple[deque[_Waiter], ...] = tuple(deque() for _ in Priority)
        self.ratio = 1.0
        self.waiting = 0

    def head(self, classes: int = len(Priority)) -> deque[_Waiter] | None:
        """The queue whose first live waiter goes next, among the ``classes`` most urgent."""
        for queue in self.queues[:classes]:
            while queue and queue[0].fut.done():
                queue.popleft()  # cancelled, or refused as too large
            if queue:
                return queue
        return None


class _Waiter:
    __slots__ = ("estimate", "fut", "tokens")

    def __init__(self, fut: asyncio.Future[TokenGrant], tokens: int, estimate: int) -> None:
        self.fut = fut
        self.tokens = tokens
        self.estimate = estimate


class TokenGrant:
    """Tokens reserved for one request. Close it exactly once (later calls do nothing):
    ``settle`` when the server answered, ``refund`` when the request was certainly never
    counted (a refused connection, a 429). A grant never closed holds its tokens forever."""

    __slots__ = ("_answered", "_budget", "_model", "estimate", "granted_at", "open", "tokens")

    def __init__(self, budget: TokenBudget, m: _Model, tokens: int, estimate: int, now: float):
        self._budget = budget
        self._model = m
        self._answered = m.bucket.grant(tokens)  # for H (see _tokenbucket)
        self.tokens = tokens  # charged: the estimate, scaled where usage corrects it
        self.estimate = estimate  # as passed to reserve
        self.granted_at = now
        self.open = True

    @property
    def model(self) -> str:
        return self._model.name

    def sending(self) -> None:
        """The request leaves now (it had to wait for its request token after its tokens):
        from here on, grants answered are ones the server may count after this one. Before,
        they were all counted first, and taking them for uncounted would sink the level by
        every reply that came while this one queued."""
        if self.open:
            self._answered = self._model.bucket.answered

    def settle(
        self, used_tokens: int | None = None, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """The server answered (a reply, or any error but a 429). ``used_tokens``: the
        reply's usage (input + output) when known; ``headers``: the reply's, to learn from."""
        if self.open:
            self._budget._close(self, counted=True, used=used_tokens, headers=headers)

    def refund(self, *, headers: Mapping[str, str] | None = None) -> None:
        """The request was certainly never counted: its tokens go back. ``headers``: a 429's,
        to learn from."""
        if self.open:
            self._budget._close(self, counted=False, used=None, headers=headers)


G = TypeVar("G", bound=TokenGrant)


async def granted(fut: asyncio.Future[G]) -> G:
    """A waiter's grant; one that came as the waiter was cancelled is refunded (not ours)."""
    try:
        return await fut
    except asyncio.CancelledError:
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            fut.result().refund()
        raise


class TokenBudget:
    """Tokens per minute per model, shared by every create and continuation of a run. Time is
    read from a ``Clock``, and every wait is the clock's too."""

    def __init__(self, settings: TokenSettings | float, *, clock: Clock | None = None) -> None:
        self.settings = settings if isinstance(settings, TokenSettings) else TokenSettings(settings)
        self._clock = clock if clock is not None else LoopClock()
        self._models: dict[str, _Model] = {}
        self._wakeup: asyncio.Event | None = None
        self._pump_task: asyncio.Task[None] | None = None

    # --- public ---------------------------------------------------------------------------

    async def reserve(
        self, model: str, tokens: int, priority: Priority = Priority.CREATE
    ) -> TokenGrant:
        """Wait until ``tokens`` (``estimate_tokens`` of the request) fit for ``model``, and
        take them. Raises ``RequestTooLargeError`` when they exceed the model's whole limit.
        Cancel-safe: a cancelled waiter gives its place (and a grant it just got) back."""
        if tokens < 0:
            raise ConfigurationError("tokens must be >= 0")
        now = self._clock.now()
        m = self._model(model, now)
        bucket = m.bucket
        charged = tokens if bucket.informed else math.ceil(tokens * m.ratio)
        if charged > bucket.limit:
            self._refuse(m, charged, bucket.limit)
            raise RequestTooLargeError(model, charged, bucket.limit)
        bucket.refill(now)
        if now >= bucket.paused_until and m.head(priority + 1) is None and bucket.fits(charged):
            return self._grant(m, charged, tokens, now)
        fut: asyncio.Future[TokenGrant] = asyncio.get_running_loop().create_future()
        m.queues[priority].append(_Waiter(fut, charged, tokens))
        m.waiting += 1
        self._kick()
        try:
            return await granted(fut)
        finally:
            m.waiting -= 1

    def waiting(self, model: str | None = None) -> int:
        """Reservations waiting now, for one model or all."""
        if model is not None:
            m = self._models.get(model)
            return 0 if m is None else m.waiting
        return sum(m.waiting for m in self._models.values())

    def on_headers(self, model: str, headers: Mapping[str, str]) -> None:
        """Learn from a reply that belongs to no grant (a check's): the limit, and a lower
        level. A reserved request's reply goes to ``TokenGrant.settle(headers=...)``."""
        info = parse_rate_limit_headers(headers)
        if info is not None and info.has_tokens:
            now = self._clock.now()
            m = self._model(model, now)
            self._after_learning(m, m.bucket.learn(info, now, None))

    def on_rate_limited(self, model: str, retry_after_s: float | None) -> None:
        """A token 429 for ``model``: its reserves pause, its level drops to 0."""
        now = self._clock.now()
        m = self._model(model, now)
        pause = retry_after_s if retry_after_s is not None else self.settings.default_pause_s
        m.bucket.throttle(now, pause)
        log.warning("batchpoll.tokens.throttled", model=model, pause_s=round(pause, 3))
        self._kick()

    def stats(self) -> TokenStats:
        try:
            now: float | None = self._clock.now()
        except RuntimeError:  # no running loop: as last seen
            now = None
        models = {
            name: m.bucket.stats(
                name, m.bucket.updated if now is None else now, waiting=m.waiting, ratio=m.ratio
            )
            for name, m in self._models.items()
        }
        every = models.values()
        return TokenStats(
            models=MappingProxyType(models),
            reserved=sum(s.reserved for s in every),
            spent=sum(s.spent for s in every),
            waiting=sum(s.waiting for s in every),
            rate_limited=sum(s.rate_limited for s in every),
            too_large=sum(s.too_large for s in every),
        )

    async def aclose(self) -> None:
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for m in self._models.values():
            for queue in m.queues:
                for waiter in queue:
                    waiter.fut.cancel()
                queue.clear()

    # --- internals ------------------------------------------------------------------------

    def _model(self, name: str, now: float) -> _Model:
        m = self._models.get(name)
        if m is None:
            m = self._models[name] = _Model(name, self.settings, now)
        return m

    def _refuse(self, m: _Model, tokens: int, limit: float) -> None:
        m.bucket.too_large += 1
        log.info("batchpoll.tokens.too_large", model=m.name, tokens=tokens, limit=limit)

    def _grant(self, m: _Model, tokens: int, estimate: int, now: float) -> TokenGrant:
        return TokenGrant(self, m, tokens, estimate, now)

    def _close(
        self, grant: TokenGrant, *, counted: bool, used: int | None,
        headers: Mapping[str, str] | None,
    ) -> None:  # fmt: skip
        grant.open = False
        m = grant._model
        now = self._clock.now()
        others = m.bucket.close(grant.tokens, grant._answered, now, counted=counted, used=used)
        if counted and used is not None and used >= 0 and grant.estimate > 0:
            s = self.settings
            sample = min(s.usage_ratio_max, max(s.usage_ratio_min, used / grant.estimate))
            m.ratio += s.usage_weight * (sample - m.ratio)
        info = parse_rate_limit_headers(headers) if headers is not None else None
        if info is not None and info.has_tokens:
            self._after_learning(m, m.bucket.learn(info, now, others))
        self._kick()

    def _after_learning(self, m: _Model, lowered: bool) -> None:
        """Refuse the waiters that a lowered limit leaves with no chance, and wake the pump."""
        limit = m.bucket.limit
        if lowered:
            log.info("batchpoll.tokens.limit_lowered", model=m.name, tpm=limit)
            for queue in m.queues:
                for waiter in queue:
                    if not waiter.fut.done() and waiter.tokens > limit:
                        self._refuse(m, waiter.tokens, limit)
                        waiter.fut.set_exception(RequestTooLargeError(m.name, waiter.tokens, limit))
        self._kick()

    # --- the pump -------------------------------------------------------------------------

    def _kick(self) -> None:
        if not any(m.waiting for m in self._models.values()):
            return
        if self._pump_task is None or self._pump_task.done():
            self._wakeup = asyncio.Event()
            self._pump_task = asyncio.get_running_loop().create_task(
                self._pump(), name="batchpoll-tokens"
            )
        assert self._wakeup is not None
        self._wakeup.set()

    def _serve(self, m: _Model, now: float) -> float:
        """Grant every head that fits now; return when to look again (inf: on an event)."""
        bucket = m.bucket
        bucket.refill(now)
        while (queue := m.head()) is not None:
            if now < bucket.paused_until:
                return bucket.paused_until
            waiter = queue[0]
            if not bucket.fits(waiter.tokens):
                return bucket.fits_at(waiter.tokens, now)
            queue.popleft()
            waiter.fut.set_result(self._grant(m, waiter.tokens, waiter.estimate, now))
        return math.inf

    async def _pump(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        while True:
            now = self._clock.now()
            wake_at = math.inf
            for m in self._models.values():
                if m.waiting:
                    wake_at = min(wake_at, self._serve(m, now))
            wakeup.clear()
            if math.isinf(wake_at):
                await wakeup.wait()
                continue
            await self._clock.wait(wakeup, max(wake_at - now, _MIN_WAIT_S))
