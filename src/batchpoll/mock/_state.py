"""The mock's state and its request pipeline: auth (401) → rate limit (429) → faults → handler.

Everything here is synchronous and guarded by one lock, so the server thread and a test or
benchmark thread reading ``stats()`` never see a half-updated picture. The HTTP layer (``_http``)
does the I/O: it reads the body, calls :meth:`MockState.handle`, sleeps the reply's delay and
sends it (or drops the connection).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from ._apierror import ApiError, error_body
from ._assistants import AssistantsStore
from ._auth import auth_error
from ._batches import BatchesStore
from ._config import MockConfig, config_to_json, config_with_changes
from ._faults import FaultDraw, FaultInjector
from ._files import FilesStore
from ._ids import id_namespace, new_salt, request_id
from ._limit_errors import (
    insufficient_quota_429,
    request_too_large_429,
    requests_429,
    tokens_429,
)
from ._limiter import Decision, RateLimiter
from ._long_jobs import LongJobsStore
from ._outgoing import Outgoing, build_outgoing, rate_limit_headers
from ._requests import lenient_body, parse_body
from ._responses import ResponsesStore
from ._sim import JobRecord
from ._stats import RequestStats, chain_stats, creates_by_metadata, job_stats
from ._tokens import TokenDecision, TokenLimiter, estimate_request_tokens
from ._webhooks import WebhookSender

__all__ = ["Call", "Clock", "MockState", "Outgoing", "RouteSpec"]

Clock = Callable[[], float]
"""Returns Unix epoch seconds; ``time.time`` by default, virtual time in tests."""

_RATE_FIELDS = ("rpm", "burst", "class_rpm", "class_burst", "rpd")

_SERVER_ERRORS = {
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


@dataclass(frozen=True, slots=True)
class Call:
    """What a handler gets: the parsed request, the state, and the instant it is served at."""

    state: MockState
    config: MockConfig
    now: float
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    raw: bytes = b""  # the undecoded body (multipart uploads; ``body`` is then empty)
    content_type: str = ""


Handler = Callable[[Call], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    method: str | None  # None: every method (the catch-all)
    template: str
    request_class: str
    handler: Handler
    retrieve: bool = False  # a job retrieve: gets ``openai-poll-after-ms`` when configured
    tokens: bool = False  # costs its estimated tokens (Responses creates and continuations)
    multipart: bool = False  # the body is multipart/form-data, not JSON (file uploads)


class MockState:
    """Jobs, limits, faults and stats of one mock server (``app.state.mock``)."""

    def __init__(
        self,
        config: MockConfig,
        clock: Clock = time.time,
        *,
        webhook_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.webhooks = WebhookSender(clock, webhook_client)
        self._setup(config)

    def _setup(self, config: MockConfig) -> None:
        self._config = config
        self.limiter = RateLimiter(config.header_semantics)
        self._configure_limiter(config)
        self.tokens = TokenLimiter()
        self.faults = FaultInjector(config.seed)
        self._salt = new_salt(config.deterministic_ids)
        self.assistants = AssistantsStore(self._salt)
        self.responses = ResponsesStore(self._salt)
        namespace = id_namespace(config.seed, self._salt)
        self.files = FilesStore(namespace)
        self.batches = BatchesStore(namespace, self.files, self._salt)
        self.long_jobs = LongJobsStore(namespace, self.files)
        self.jobs: list[JobRecord] = []
        self._job_counts = {"run": 0, "response": 0}
        self._requests = RequestStats()
        self._started_at: float | None = None
        self._schedule_pos = 0
        self._request_seq = 0
        self.webhooks.reset(self._salt)

    # --- public control surface ---

    @property
    def config(self) -> MockConfig:
        return self._config

    def now(self) -> float:
        return self._clock()

    def stats(self) -> dict[str, Any]:
        """The same JSON as ``GET /_mock/stats``."""
        with self._lock:
            now = self._clock()
            config = self._config
            return {
                "now": now,
                "elapsed_s": None if self._started_at is None else now - self._started_at,
                **self._requests.as_json(),
                **job_stats(self.jobs, now, config.metadata_key),
                **chain_stats(
                    self.responses.chains(),
                    now,
                    self.responses.continuations,
                    self.responses.continuations_rejected,
                ),
                "webhooks": self.webhooks.as_json(),
                "files": self.files.as_json(),
                "batches": self.batches.as_json(now),
                **self.long_jobs.as_json(),
                "rpm": config.rpm,
                "burst": None if config.rpm is None else config.effective_burst(config.rpm),
                "budgets": {
                    name: {"rpm": rpm, "burst": burst}
                    for name, (rpm, burst) in self.limiter.limits().items()
                },
                "tpm": config.tpm,
                "model_tpm": dict(config.model_tpm),
            }

    def reset(self, **changes: Any) -> None:
        """Forget every job and statistic; optionally change settings (JSON-shaped values)."""
        with self._lock:
            self._setup(config_with_changes(self._config, changes))

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings live (a limit that drops mid-run); jobs already created keep theirs."""
        with self._lock:
            old = self._config
            new = config_with_changes(old, changes)
            self._apply_config(new)
            if new.seed != old.seed:
                self.faults = FaultInjector(new.seed)
            if new.rate_schedule != old.rate_schedule:
                # Steps already in the past are skipped, not replayed.
                elapsed = self._elapsed_no_start(self._clock())
                self._schedule_pos = sum(1 for t_s, _ in new.rate_schedule if t_s <= elapsed)
            return config_to_json(new)

    def set_rpm(self, rpm: int | None, burst: int | None = None) -> None:
        changes: dict[str, Any] = {"rpm": rpm}
        if burst is not None:
            changes["burst"] = burst
        self.configure(**changes)

    def creates_by_metadata(self, key: str | None = None) -> dict[str, int]:
        """How many creates carried each value of metadata ``key`` (default: metadata_key)."""
        with self._lock:
            return creates_by_metadata(self.jobs, key or self._config.metadata_key)

    def config_json(self) -> dict[str, Any]:
        with self._lock:
            return config_to_json(self._config)

    # --- helpers for handlers ---

    def add_job(self, job: JobRecord) -> None:
        self.jobs.append(job)
        self._job_counts[job.kind] += 1

    def next_seq(self, kind: str) -> int:
        """Sequence number of the next job of ``kind`` (taken only if the create succeeds)."""
        return self._job_counts[kind] + 1

    # --- the pipeline ---

    def _apply_config(self, config: MockConfig) -> None:
        old = self._config
        self._config = config
        self.limiter.header_semantics = config.header_semantics
        if any(getattr(old, f) != getattr(config, f) for f in _RATE_FIELDS):
            self._configure_limiter(config)

    def _configure_limiter(self, c: MockConfig) -> None:
        self.limiter.configure(c.rpm, c.burst, c.class_rpm, c.class_burst, rpd=c.rpd)

    def _elapsed_no_start(self, now: float) -> float:
        return 0.0 if self._started_at is None else now - self._started_at

    def _elapsed(self, now: float) -> float:
        """Seconds since the first request; applies rate-schedule steps that came due."""
        if self._started_at is None:
            self._started_at = now
        elapsed = now - self._started_at
        schedule = self._config.rate_schedule
        while self._schedule_pos < len(schedule) and schedule[self._schedule_pos][0] <= elapsed:
            rpm = schedule[self._schedule_pos][1]
            self._schedule_pos += 1
            self._apply_config(dataclasses.replace(self._config, rpm=rpm))
        return elapsed

    def handle(
        self,
        route: RouteSpec,
        method: str,
        params: Mapping[str, str],
        query: Mapping[str, str],
        headers: Mapping[str, str],
        raw_body: bytes,
    ) -> Outgoing:
        with self._lock:
            now = self._clock()
            elapsed = self._elapsed(now)
            config = self._config
            key = f"{method} {route.template}"
            self._request_seq += 1
            self._requests.received(now)
            base_latency_s = config.latency_ms / 1000

            body = lenient_body(raw_body)
            model = self._model_of(params, body, config)
            limit_tpm = config.tpm_for(model)
            tokens = self.tokens.peek(now, model, limit_tpm)

            body_401 = auth_error(config.api_key, headers.get("authorization"))
            if body_401 is not None:  # OpenAI's 401s carry no rate-limit headers
                return self._reply(key, 401, body_401, None, None, delay_s=base_latency_s)
            quota = config.quota_exhausted_after
            if quota is not None and self._requests.requests_accepted >= quota:
                self._requests.quota_refused += 1
                decision = self.limiter.peek(now, route.request_class)
                payload = insufficient_quota_429()
                return self._reply(key, 429, payload, decision, tokens, delay_s=base_latency_s)

            # Both limits are checked before either is charged: a rejection consumes nothing.
            blocked = self.limiter.blocked(now, route.request_class)
            if blocked is not None:
                payload, extra = requests_429(blocked, model)
                return self._reply(
                    key, 429, payload, blocked, tokens, delay_s=base_latency_s, extra=extra
                )
            cost = estimate_request_tokens(body) if route.tokens else 0
            if cost > 0:
                tokens = self.tokens.check(now, model, cost, limit_tpm)
                if not tokens.accepted:
                    return self._token_limited(key, route, now, model, tokens, base_latency_s)
                tokens = self.tokens.consume(now, model, cost, limit_tpm)
                self._requests.tokens_accepted(now, model, cost)
            decision = self.limiter.acquire(now, route.request_class)
            self._requests.accepted(now)

            fault = self.faults.draw(config, elapsed, route.request_class)
            self._requests.faults.update(fault.kinds)
            if fault.error_status is not None:
                status = fault.error_status
                payload = error_body(_SERVER_ERRORS[status], "server_error")
                return self._reply(key, status, payload, decision, tokens, delay_s=fault.delay_s)
            if fault.disconnect and not config.disconnect_after_processing:
                return self._reply(key, 200, {}, decision, tokens, fault=fault)

            content_type = headers.get("content-type", "")
            status, payload = self._run_handler(
                route, config, now, params, query, raw_body, content_type
            )
            extra = []
            if route.retrieve and status == 200 and config.poll_after_ms is not None:
                extra.append(("openai-poll-after-ms", str(config.poll_after_ms)))
            return self._reply(key, status, payload, decision, tokens, fault=fault, extra=extra)

    def _model_of(
        self, params: Mapping[str, str], body: Mapping[str, Any], config: MockConfig
    ) -> str:
        """The model a request counts against: the body's, else the addressed job's, else the
        default. (How OpenAI counts a model-less GET is not documented.)"""
        model = body.get("model")
        if isinstance(model, str) and model:
            return model
        if "response_id" in params:
            found = self.responses.model_of(params["response_id"])
            if found is not None:
                return found
        run = self.assistants.runs.get(params.get("run_id", ""))
        return run.model if run is not None else config.model

    def _token_limited(
        self,
        key: str,
        route: RouteSpec,
        now: float,
        model: str,
        tokens: TokenDecision,
        delay_s: float,
    ) -> Outgoing:
        decision = self.limiter.peek(now, route.request_class)
        self._requests.token_rejected(too_large=tokens.too_large)
        if tokens.too_large:
            payload = request_too_large_429(tokens, model)
            return self._reply(key, 429, payload, decision, tokens, delay_s=delay_s)
        payload, extra = tokens_429(tokens, model)
        return self._reply(key, 429, payload, decision, tokens, delay_s=delay_s, extra=extra)

    def _run_handler(
        self,
        route: RouteSpec,
        config: MockConfig,
        now: float,
        params: Mapping[str, str],
        query: Mapping[str, str],
        raw_body: bytes,
        content_type: str = "",
    ) -> tuple[int, Any]:
        try:
            if route.multipart:
                call = Call(self, config, now, params, query, {}, raw_body, content_type)
                return route.handler(call)
            body = parse_body(raw_body)
            return route.handler(Call(self, config, now, params, query, body))
        except ApiError as exc:
            return exc.status, exc.body()

    def _reply(
        self,
        key: str,
        status: int,
        body: Any,
        decision: Decision | None,
        tokens: TokenDecision | None,
        *,
        delay_s: float | None = None,
        fault: FaultDraw | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Outgoing:
        out = build_outgoing(
            status,
            body,
            request_id(self._salt, self._request_seq),
            rate_limit_headers(decision, tokens) + (extra or []),
            delay_s=delay_s,
            fault=fault,
        )
        self._requests.replied(key, "disconnect" if out.disconnect else str(status))
        return out
