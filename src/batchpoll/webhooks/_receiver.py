"""``WebhookReceiver``: verified OpenAI webhooks in, "due now" hints to a ``Poller`` out.

A plain ASGI app (no framework needed; mount it in Starlette/FastAPI or serve it with
uvicorn). Each POST is verified with the SDK, ``client.webhooks.unwrap(body, headers,
secret=...)`` (Standard Webhooks HMAC signature, and a 5-minute replay window on
``webhook-timestamp``); a bad signature, a stale or future timestamp, missing headers or a
body that is not JSON get 400 and are never acted on. A verified event is acted on once per
``webhook-id`` (a redelivery or duplicate gets 200 and nothing else), and only the events that
say a tracked kind ended are dispatched (``HINT_EVENTS``: ``response.*``, ``batch.*``,
``fine_tuning.job.*``): OpenAI sends none for Assistants runs, and other types are ignored.
"""

from __future__ import annotations

import json
import os
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

from openai import AsyncOpenAI, InvalidWebhookSignatureError, OpenAI

from .. import ConfigurationError, Poller, logger

__all__ = ["HINT_EVENTS", "RESPONSE_EVENTS", "WebhookReceiver", "WebhookResult"]

log = logger  # silent until the application configures structlog


#: The events that say a background response ended (OpenAI's names).
RESPONSE_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.cancelled", "response.incomplete"}
)
#: The events that say a batch or a fine-tuning job ended (their ``data.id`` is its id).
LONG_JOB_EVENTS = frozenset(
    {
        "batch.completed",
        "batch.failed",
        "batch.expired",
        "batch.cancelled",
        "fine_tuning.job.succeeded",
        "fine_tuning.job.failed",
        "fine_tuning.job.cancelled",
    }
)
#: Every event that makes a tracked job due.
HINT_EVENTS = RESPONSE_EVENTS | LONG_JOB_EVENTS
SECRET_ENV = "OPENAI_WEBHOOK_SECRET"
_MAX_BODY = 1 << 20

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Result = Literal["accepted", "ignored", "duplicate", "rejected", "unavailable"]


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What one delivery did: ``status`` is the HTTP status answered."""

    status: int
    result: Result
    event_type: str | None = None
    object_id: str | None = None
    matched: bool = False  # a job in flight was made due at once


class WebhookReceiver:
    """Receive OpenAI webhooks for a ``Poller``.

    ``secret`` defaults to ``$OPENAI_WEBHOOK_SECRET`` (``whsec_...``, from the dashboard's
    webhook endpoint); ``poller`` may be attached later (``attach``): until then deliveries
    get 503, which OpenAI retries. ``max_seen`` bounds the ``webhook-id`` memory used to act
    on each event once. The receiver is itself the ASGI app (``receiver.app`` is the same).
    """

    def __init__(
        self,
        poller: Poller | None = None,
        *,
        secret: str | None = None,
        client: OpenAI | AsyncOpenAI | None = None,
        max_seen: int = 100_000,
    ) -> None:
        secret = secret or os.environ.get(SECRET_ENV)
        if not secret:
            raise ConfigurationError(f"no webhook secret: set {SECRET_ENV} or pass secret=")
        if max_seen < 1:
            raise ConfigurationError("max_seen must be >= 1")
        self._secret = secret
        self._client = client
        self._poller = poller
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._max_seen = max_seen
        self.counts: Counter[str] = Counter()

    def __repr__(self) -> str:  # never the secret
        return f"<WebhookReceiver counts={dict(self.counts)}>"

    def attach(self, poller: Poller) -> None:
        self._poller = poller

    @property
    def app(self) -> WebhookReceiver:
        """The ASGI app (the receiver itself), for ``Mount("/webhooks", app=receiver.app)``."""
        return self

    def _verifier(self) -> OpenAI | AsyncOpenAI:
        if self._client is None:
            if self._poller is not None:
                self._client = self._poller.client
            else:  # verification needs no key and makes no request
                self._client = AsyncOpenAI(api_key="unused-for-webhook-verification")
        return self._client

    # --- one delivery, framework-free -----------------------------------------------------

    def handle(self, body: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and act on one delivery (any framework can call this)."""
        poller = self._poller
        if poller is None:
            self.counts["unavailable"] += 1
            return WebhookResult(503, "unavailable")
        try:
            self._verifier().webhooks.unwrap(body, headers, secret=self._secret)
            event = json.loads(body)
            webhook_id = _header(headers, "webhook-id")
        except ValueError as exc:  # InvalidWebhookSignatureError is one too
            reason = "signature" if isinstance(exc, InvalidWebhookSignatureError) else "malformed"
            if "timestamp" in str(exc):
                reason = "timestamp"
            self.counts[f"rejected_{reason}"] += 1
            log.warning("batchpoll.webhook.rejected", reason=reason)
            return WebhookResult(400, "rejected")
        event_type, object_id = _event_fields(event)
        if webhook_id in self._seen:
            self.counts["duplicate"] += 1
            log.debug("batchpoll.webhook.duplicate", webhook_id=webhook_id, type=event_type)
            return WebhookResult(200, "duplicate", event_type, object_id)
        self._remember(webhook_id)
        if event_type not in HINT_EVENTS or object_id is None:
            self.counts["ignored"] += 1
            log.debug("batchpoll.webhook.ignored", type=event_type)
            return WebhookResult(200, "ignored", event_type, object_id)
        matched = poller.notify_done(object_id)
        self.counts["accepted"] += 1
        log.debug("batchpoll.webhook.received", type=event_type, id=object_id, matched=matched)
        return WebhookResult(200, "accepted", event_type, object_id, matched)

    def _remember(self, webhook_id: str) -> None:
        self._seen[webhook_id] = None
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)

    # --- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _reply(send, 405, b"POST only", [(b"allow", b"POST")])
            return
        body = await _read_body(receive)
        if body is None:
            await _reply(send, 413, b"body too large")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        result = self.handle(body, headers)
        await _reply(send, result.status, result.result.encode())


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise ValueError(f"missing {name} header")


def _event_fields(event: Any) -> tuple[str | None, str | None]:
    if not isinstance(event, dict):
        return None, None
    event_type = event.get("type")
    data = event.get("data")
    object_id = data.get("id") if isinstance(data, dict) else None
    return (
        event_type if isinstance(event_type, str) else None,
        object_id if isinstance(object_id, str) else None,
    )


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _reply(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    head = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + (headers or [])})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
