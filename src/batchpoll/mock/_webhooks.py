"""Webhooks for background responses, batches and fine-tuning jobs, sent as OpenAI sends them
(Standard Webhooks, signed).

Like the jobs themselves, deliveries are derived from timestamps: a background response's
terminal time is known at its creation, so its event goes into ONE heap of
``(send_at, seq, delivery)`` and ONE sender task sleeps until the next one is due, signs it and
POSTs it (each attempt is a task of its own, so a slow receiver delays nobody else). There is
no task per job. Loss, duplication, delay and reordering are drawn from a seeded RNG when the
event is scheduled; a delivery that finds the job ended otherwise at its first attempt (a
completion overtaken by a cancel) is dropped as ``superseded``. A failed attempt (non-2xx, no
connection, no answer within the timeout) goes back into the heap for its retry
(``_webhook_retry``): delivery is at least once and unordered, as OpenAI's.

Signing, exactly as ``openai`` verifies it (``openai/lib/_webhooks.py``): the secret is
``whsec_`` + base64 key; the signature is HMAC-SHA256 over ``f"{id}.{timestamp}.{body}"``,
sent as ``webhook-signature: v1,<base64>`` with ``webhook-id`` and ``webhook-timestamp``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import heapq
import hmac
import itertools
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx2

from ._config import MockConfig
from ._ids import id_namespace, make_id
from ._sim import JobRecord, snapshot
from ._webhook_retry import RetryPolicy

__all__ = ["WebhookSender", "sign"]

#: The response statuses OpenAI announces, and their event types.
EVENT_TYPES = {
    "completed": "response.completed",
    "failed": "response.failed",
    "cancelled": "response.cancelled",
    "incomplete": "response.incomplete",
}


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` (Standard Webhooks ``v1``)."""
    key = (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else (secret.encode())
    )
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


#: Batch and fine-tuning statuses OpenAI announces, and their event types.
LONG_JOB_EVENTS = {
    ("batch", "completed"): "batch.completed",
    ("batch", "failed"): "batch.failed",
    ("batch", "expired"): "batch.expired",
    ("batch", "cancelled"): "batch.cancelled",
    ("fine_tuning", "succeeded"): "fine_tuning.job.succeeded",
    ("fine_tuning", "failed"): "fine_tuning.job.failed",
    ("fine_tuning", "cancelled"): "fine_tuning.job.cancelled",
}


@dataclass(frozen=True, slots=True)
class _Delivery:
    job: JobRecord | None  # None: a batch or fine-tuning job (``final_status`` says its end)
    response_id: str  # the response announced (a chain's job holds several)
    final: bool  # announces the chain's end: dropped if the chain ended otherwise
    status: str  # the status this event announces
    terminal_at: float
    webhook_id: str
    event_id: str
    url: str
    secret: str
    copy: int  # 0: the original, 1: a duplicate
    retry: RetryPolicy
    attempt: int = 1
    first_at: float = 0.0  # when attempt 1 was made
    event_type: str | None = None  # None: the response event of ``status``
    final_status: Callable[[], str] | None = None  # a long job's end as it stands now


class WebhookSender:
    """One per mock state: schedules, sends and counts the webhook deliveries."""

    def __init__(self, clock: Callable[[], float], client: httpx2.AsyncClient | None) -> None:
        self._clock = clock
        self._client = client
        self._own_client: httpx2.AsyncClient | None = None
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self._attempts_in_flight: set[asyncio.Task[None]] = set()
        self._attempts: Counter[str] = Counter()  # per event id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self.counts: Counter[str] = Counter()
        self._events = 0
        self._salt = ""

    # --- scheduling (called by the request handlers, under the state's lock) ---------------

    def reset(self, salt: str = "") -> None:
        with self._lock:
            self._salt = salt  # see _ids: unique webhook and event ids across instances
            self._heap.clear()
            self.counts.clear()
            self._attempts.clear()
            self._events = 0

    def response_started(
        self, config: MockConfig, job: JobRecord, response_id: str, index: int
    ) -> None:
        """A background response exists (response ``index`` of a chain, 0: the root): its
        event is scheduled at its end, which is known now. A response that ends asking
        function calls is ``completed``, and nothing can overtake that (it can no longer be
        cancelled)."""
        final = snapshot(job, math.inf)
        at = (response_id, index)
        if final.status == "requires_action" and final.asked_at is not None:
            self._schedule(config, job, at, "completed", final.asked_at, final=False)
        elif final.terminal_at is not None:
            self._schedule(config, job, at, final.status, final.terminal_at)

    def job_cancelled(
        self, config: MockConfig, job: JobRecord, response_id: str, index: int
    ) -> None:
        final = snapshot(job, math.inf)
        if final.status == "cancelled" and final.terminal_at is not None:
            self._schedule(config, job, (response_id, index), "cancelled", final.terminal_at)

    def long_job_event(
        self,
        config: MockConfig,
        kind: str,
        object_id: str,
        seq: int,
        status: str,
        at: float,
        final_status: Callable[[], str],
    ) -> None:
        """A batch or fine-tuning job will end ``status`` at ``at`` (known at its create, or
        at its cancel): its event, unless something else ends it first (``final_status``)."""
        event_type = LONG_JOB_EVENTS.get((kind, status))
        if event_type is not None:
            extra = {"event_type": event_type, "final_status": final_status}
            self._schedule(config, None, (object_id, seq), status, at, extra=extra, kind=kind)

    def _schedule(
        self,
        config: MockConfig,
        job: JobRecord | None,
        response: tuple[str, int],
        status: str,
        at: float,
        *,
        final: bool = True,
        extra: dict[str, Any] | None = None,
        kind: str = "response",
    ) -> None:
        response_id, index = response
        url, secret = config.webhook_url, config.webhook_secret
        if url is None or secret is None or (job is not None and status not in EVENT_TYPES):
            return
        with self._lock:
            self._events += 1
            n = self._events
            # Drawn from the seed and the response's place, not its (salted) id.
            seq = job.seq if job is not None else f"{kind}/{index}"
            rng = random.Random(f"{config.seed}/webhook/{seq}/{index}/{status}")
            ns = id_namespace(config.seed, self._salt)
            self.counts["events"] += 1
            if rng.random() < config.webhook_loss:
                self.counts["lost"] += 1
                return
            delay = config.webhook_delay_s + config.webhook_delay_jitter_s * rng.random()
            if rng.random() < config.webhook_reorder:
                # Held back: events of jobs that ended later overtake this one.
                self.counts["reordered"] += 1
                delay += config.webhook_reorder_delay_s * (0.5 + rng.random())
            copies = [delay]
            if rng.random() < config.webhook_duplicate:
                self.counts["duplicated"] += 1
                copies.append(delay + config.webhook_reorder_delay_s * rng.random())
            for copy, d in enumerate(copies):
                delivery = _Delivery(
                    job=job,
                    response_id=response_id,
                    final=final,
                    status=status,
                    terminal_at=at,
                    webhook_id=make_id("wh", ns, "delivery", n),
                    event_id=make_id("evt", ns, "event", n),
                    url=url,
                    secret=secret,
                    copy=copy,
                    retry=RetryPolicy(
                        config.webhook_retry_scale,
                        config.webhook_retry_for_s,
                        config.webhook_timeout_s,
                    ),
                    **(extra or {}),
                )
                heapq.heappush(self._heap, (at + d, next(self._seq), delivery))
        self._poke()

    # --- the sender task --------------------------------------------------------------------

    def _poke(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._task is None or self._task.done():
            if loop is None:
                return  # started by the next request served in a loop
            self._loop, self._wake = loop, asyncio.Event()
            self._task = loop.create_task(self._run(), name="batchpoll-mock-webhooks")
        if self._loop is not None and self._wake is not None:
            if loop is self._loop:
                self._wake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake.set)

    def pending(self) -> int:
        with self._lock:
            return len(self._heap)

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with self._lock:
                head = self._heap[0][0] if self._heap else None
                due = None
                if head is not None and head <= self._clock():
                    due = heapq.heappop(self._heap)[2]
            if due is not None:
                attempt = asyncio.ensure_future(self._deliver(due))
                self._attempts_in_flight.add(attempt)
                attempt.add_done_callback(self._attempts_in_flight.discard)
                continue
            self._wake.clear()
            timeout = None if head is None else max(0.0, head - self._clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _deliver(self, d: _Delivery) -> None:
        if d.attempt == 1:
            if d.job is None:
                assert d.final_status is not None
                superseded = d.final_status() != d.status
            elif d.final:
                superseded = snapshot(d.job, math.inf).status != d.status
            else:  # a chain's response that asked calls: only a cancel before its end undoes it
                superseded = d.job.cancel_at is not None and d.job.cancel_at < d.terminal_at
            if superseded:  # e.g. a completion overtaken by a cancel
                self.counts["superseded"] += 1
                return
            d = replace(d, first_at=self._clock())
        event = {
            "id": d.event_id,
            "object": "event",
            "created_at": math.floor(d.terminal_at),
            "type": d.event_type or EVENT_TYPES[d.status],
            "data": {"id": d.response_id},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = math.floor(self._clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": d.webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(d.secret, d.webhook_id, timestamp, body),
            "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
        }
        with self._lock:
            self.counts["sent"] += 1
            self.counts["retries"] += d.attempt > 1
            self._attempts[d.event_id] += 1
        ok = False
        try:
            async with asyncio.timeout(d.retry.timeout_s):
                reply = await self._http().post(d.url, content=body, headers=headers)
            ok = 200 <= reply.status_code < 300
        except TimeoutError:
            self.counts["timeouts"] += 1
        except httpx2.HTTPError:
            pass
        if ok:
            self.counts["delivered"] += 1
            return
        self.counts["failed"] += 1
        retry_at = d.retry.next_attempt_at(d.first_at, d.attempt, self._clock())
        with self._lock:
            if retry_at is None:
                self.counts["gave_up"] += 1
                return
            retry = replace(d, attempt=d.attempt + 1)
            heapq.heappush(self._heap, (retry_at, next(self._seq), retry))
        self._poke()

    def _http(self) -> httpx2.AsyncClient:
        if self._client is not None:
            return self._client
        if self._own_client is None:
            self._own_client = httpx2.AsyncClient(timeout=None)  # each attempt has its own
        return self._own_client

    async def aclose(self) -> None:
        """Stop the sender task (pending deliveries stay in the heap)."""
        task, self._task = self._task, None
        tasks = [*self._attempts_in_flight, *([task] if task is not None else [])]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._own_client is not None:
            await self._own_client.aclose()
            self._own_client = None

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            names = (
                "events",
                "sent",
                "delivered",
                "failed",
                "timeouts",
                "retries",
                "gave_up",
                "lost",
                "duplicated",
                "reordered",
                "superseded",
            )
            per_event = Counter(self._attempts.values())
            return {
                **{k: self.counts[k] for k in names},
                "pending": len(self._heap),
                "in_flight": len(self._attempts_in_flight),
                "attempts_per_event": {str(n): per_event[n] for n in sorted(per_event)},
                "max_attempts": max(per_event, default=0),
            }
