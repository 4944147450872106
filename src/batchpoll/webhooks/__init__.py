"""Webhooks as hints, polling as the safety net (docs/webhooks.md).

    poller = batchpoll.Poller(client, rpm=1200, webhooks=batchpoll.WebhookSettings())
    receiver = WebhookReceiver(poller)          # secret from $OPENAI_WEBHOOK_SECRET
    app.mount("/openai-webhooks", receiver.app)  # or: async with serve(receiver, host, port)

``serve`` needs uvicorn (the ``webhooks`` extra); the receiver itself needs only the SDK.
"""

from __future__ import annotations

from ._receiver import HINT_EVENTS, RESPONSE_EVENTS, WebhookReceiver, WebhookResult
from ._serve import parse_listen, serve

__all__ = [
    "HINT_EVENTS",
    "RESPONSE_EVENTS",
    "WebhookReceiver",
    "WebhookResult",
    "parse_listen",
    "serve",
]
