"""``--webhook-listen``: a receiver to serve beside the run's poller (docs/webhooks.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from .. import ConfigurationError, Poller, WebhookSettings

__all__ = ["Serve", "webhook_serving"]

Serve = Callable[[Poller], AbstractAsyncContextManager[Any]]


def webhook_serving(
    listen: str | None, safety_interval_s: float
) -> tuple[Serve | None, WebhookSettings | None]:
    """What to serve beside the poller and its settings (None, None without ``listen``).
    The secret is read from ``OPENAI_WEBHOOK_SECRET`` here and goes nowhere else."""
    if listen is None:
        return None, None
    secret = os.environ.get("OPENAI_WEBHOOK_SECRET", "")
    if not secret:
        raise ConfigurationError(
            "--webhook-listen needs the webhook signing secret: set OPENAI_WEBHOOK_SECRET"
        )
    from ..webhooks import WebhookReceiver, parse_listen, serve

    try:
        host, port = parse_listen(listen)
    except ConfigurationError as exc:
        raise ConfigurationError(f"--webhook-listen: {exc}") from None

    def serving(poller: Poller) -> AbstractAsyncContextManager[Any]:
        return serve(WebhookReceiver(poller, secret=secret), host, port)

    return serving, WebhookSettings(safety_interval_s=safety_interval_s)
