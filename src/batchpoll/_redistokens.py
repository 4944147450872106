"""``RedisTokens``: a ``TokenBudget`` whose tokens per minute are shared through Redis.

``RedisBudget(url, name=, rpm=, tpm=)`` makes one and exposes it as ``.tokens``; a
``Poller(budget=...)`` given no ``tokens=``/``tpm=`` of its own charges its creates and
continuations to it. Same interface as ``TokenBudget``: ``reserve`` (waits; continuations
before creates, FIFO within a class, per model), then ``settle`` or ``refund`` on the grant,
``on_headers`` and ``on_rate_limited``.

Every reserve is one run of ``_redistokenscript.TOKENS_LUA`` on the Redis server's clock (a
60 s window of charged tokens per model: see there for why the server never counts more than
the limit). A refund is one more; a settle costs none, unless its headers teach a new limit or
a pause, which are shared. A model's charge is scaled by its real / estimated usage ratio
where its replies carry no token headers, as ``TokenBudget`` does. Redis not answering: no
reserve is granted; it is retried with the request budget's backoff (and logged by it).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._budget import Priority
from ._errors import ConfigurationError
from ._headers import parse_rate_limit_headers
from ._log import log
from ._redistokenscript import TOKENS_LUA
from ._tokens import (
    RequestTooLargeError,
    TokenBudget,
    TokenGrant,
    TokenSettings,
    TokenStats,
    granted,
)

if TYPE_CHECKING:
    from ._redisbudget import RedisBudget

__all__ = ["RedisTokenGrant", "RedisTokens"]

_RETRY_MAX_S = 0.5  # a model's waiting head asks Redis again at least this often


class RedisTokenGrant(TokenGrant):
    """Tokens reserved in Redis for one request (``member`` of the model's window)."""

    __slots__ = ("member", "model_name")

    def __init__(self, budget: RedisTokens, model: str, member: str, tokens: int, estimate: int,
                 now: float) -> None:  # fmt: skip
        self._budget = budget
        self.model_name = model
        self.member = member
        self.tokens = tokens
        self.estimate = estimate
        self.granted_at = now
        self.open = True

    @property
    def model(self) -> str:
        return self.model_name

    def sending(self) -> None:
        """Nothing to do: the window counts the reservation from its start."""


class _Shared:
    """What this process knows of one model: its local queue and usage ratio."""

    __slots__ = ("heap", "informed", "limit", "ratio", "server", "stats")

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, asyncio.Future[RedisTokenGrant], int, int]] = []
        self.server: asyncio.Task[None] | None = None
        self.ratio = 1.0
        self.informed = False
        self.limit: float | None = None  # learned, as last told to Redis
        self.stats = {"reserved": 0, "refunded": 0, "spent": 0, "grants": 0, "rate_limited": 0,
                      "too_large": 0}  # fmt: skip


class RedisTokens(TokenBudget):
    """Tokens per minute per model, shared by every process on the same ``RedisBudget`` name."""

    def __init__(self, budget: RedisBudget, settings: TokenSettings | float) -> None:
        super().__init__(settings, clock=budget.clock)
        self._owner = budget
        self._script = budget._redis.register_script(TOKENS_LUA)
        self._base = budget.keys[0].rsplit(":", 1)[0] + ":tok:"
        self._shared: dict[str, _Shared] = {}
        self._seq = itertools.count()
        self.round_trips = 0

    # --- public (TokenBudget's interface) -------------------------------------------------

    async def reserve(
        self, model: str, tokens: int, priority: Priority = Priority.CREATE
    ) -> TokenGrant:
        if tokens < 0:
            raise ConfigurationError("tokens must be >= 0")
        m = self._model_of(model)
        charged = tokens if m.informed else math.ceil(tokens * m.ratio)
        limit = self._limit(model)
        if charged > limit:
            m.stats["too_large"] += 1
            log.info("batchpoll.tokens.too_large", model=model, tokens=charged, limit=limit)
            raise RequestTooLargeError(model, charged, limit)
        fut: asyncio.Future[RedisTokenGrant] = asyncio.get_running_loop().create_future()
        heapq.heappush(m.heap, (int(priority), next(self._seq), fut, charged, tokens))
        if m.server is None or m.server.done():
            m.server = asyncio.get_running_loop().create_task(
                self._serve_model(model, m), name="batchpoll-redis-tokens"
            )
        return await granted(fut)

    def waiting(self, model: str | None = None) -> int:
        models = [model] if model is not None else list(self._shared)
        return sum(len(self._shared[x].heap) for x in models if x in self._shared)

    def on_headers(self, model: str, headers: Mapping[str, str]) -> None:
        self._learn(model, headers)

    def on_rate_limited(self, model: str, retry_after_s: float | None) -> None:
        pause = retry_after_s if retry_after_s is not None else self.settings.default_pause_s
        self._model_of(model).stats["rate_limited"] += 1
        log.warning("batchpoll.tokens.throttled", model=model, pause_s=round(pause, 3))
        self._owner._spawn(self._call(model, "throttle", pause))

    def stats(self) -> TokenStats:
        total = {k: sum(m.stats[k] for m in self._shared.values()) for k in _Shared().stats}
        return TokenStats(
            models=MappingProxyType({}),
            reserved=total["reserved"],
            spent=total["spent"],
            waiting=self.waiting(),
            rate_limited=total["rate_limited"],
            too_large=total["too_large"],
        )

    async def aclose(self) -> None:
        """Stop serving this process's waiters (they are cancelled); reusable afterwards."""
        for m in self._shared.values():
            task, m.server = m.server, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for _, _, fut, _, _ in m.heap:
                fut.cancel()
            m.heap.clear()

    # --- internals ------------------------------------------------------------------------

    def _model_of(self, model: str) -> _Shared:
        m = self._shared.get(model)
        if m is None:
            m = self._shared[model] = _Shared()
        return m

    def _limit(self, model: str) -> float:
        tpm = self.settings.tpm_for(model)
        learned = self._model_of(model).limit
        return tpm if learned is None else min(tpm, learned)

    def _close(
        self, grant: TokenGrant, *, counted: bool, used: int | None,
        headers: Mapping[str, str] | None,
    ) -> None:  # fmt: skip
        grant.open = False
        assert isinstance(grant, RedisTokenGrant)
        m = self._model_of(grant.model_name)
        if counted:
            if used is not None and used >= 0:
                m.stats["spent"] += used
                if grant.estimate > 0:
                    s = self.settings
                    sample = min(s.usage_ratio_max, max(s.usage_ratio_min, used / grant.estimate))
                    m.ratio += s.usage_weight * (sample - m.ratio)
        else:
            m.stats["reserved"] -= grant.tokens
            m.stats["refunded"] += grant.tokens
            self._owner._spawn(self._call(grant.model_name, "refund", grant.member))
        if headers is not None:
            self._learn(grant.model_name, headers)

    def _learn(self, model: str, headers: Mapping[str, str]) -> None:
        info = parse_rate_limit_headers(headers)
        if info is None or not info.has_tokens:
            return
        m = self._model_of(model)
        m.informed = True
        limit = info.limit_tokens if info.limit_tokens and info.limit_tokens > 0 else None
        pause = -1.0
        if info.remaining_tokens == 0 and info.reset_tokens_s:
            pause = info.reset_tokens_s
        if (limit is not None and limit != m.limit) or pause > 0:
            if limit is not None:
                m.limit = float(limit)
            self._owner._spawn(self._call(model, "limit", float(limit or -1), pause))

    async def _call(self, model: str, op: str, *args: Any) -> list[str] | None:
        """One script run for ``model``; None when Redis did not answer."""
        s = self.settings
        key = self._base + model
        argv = [op, s.tpm_for(model), s.headroom, self._owner._lease_s,
                self._owner.redis_settings.state_ttl_s, s.initial_s, *args]  # fmt: skip
        try:
            async with asyncio.timeout(self._owner.redis_settings.timeout_s):
                reply = await self._script(keys=[key + ":w", key + ":s"], args=argv)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no answer: the request budget's down/back logging
            self._owner._failed(exc, self._clock.now())
            return None
        self.round_trips += 1
        self._owner._answered(self._clock.now())
        return [x.decode() if isinstance(x, bytes) else str(x) for x in reply]

    async def _serve_model(self, model: str, m: _Shared) -> None:
        """Grant this model's waiters, most urgent first, each with one script run."""
        clock = self._clock
        while m.heap:
            _, _, fut, charged, estimate = m.heap[0]
            if fut.done():  # cancelled while waiting
                heapq.heappop(m.heap)
                continue
            if charged > self._limit(model):  # a limit learned since it queued
                heapq.heappop(m.heap)
                m.stats["too_large"] += 1
                fut.set_exception(RequestTooLargeError(model, charged, self._limit(model)))
                continue
            fields = await self._call(model, "reserve", charged)
            if fields is None:
                await clock.sleep(max(self._owner._next_call - clock.now(), 0.05))
                continue
            member, in_use = fields[4], float(fields[2])
            if m.limit is None or in_use < m.limit:  # a limit another process learned
                m.limit = in_use
            if not member:
                # until enough ages out, or sooner: a refund anywhere frees tokens too
                await clock.sleep(min(max(float(fields[1]), 0.01), _RETRY_MAX_S))
                continue
            heapq.heappop(m.heap)
            grant = RedisTokenGrant(self, model, member, charged, estimate, clock.now())
            m.stats["reserved"] += charged
            m.stats["grants"] += 1
            if fut.done():  # cancelled during the script run: give it back
                grant.refund()
            else:
                fut.set_result(grant)
