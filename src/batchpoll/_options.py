"""``PollerOptions``: the keyword arguments of ``Poller`` as one typed dict, so that
``SyncPoller(client, **options)`` is checked against the same names and types
(``tests/core/test_sync_parity.py`` keeps the two in step)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from typing import TypedDict

from ._budget import Budget
from ._clock import Clock
from ._errors import ConfigurationError
from ._hints import WebhookSettings
from ._hooks import Hooks
from ._policy import PollSettings
from ._tokens import TokenBudget
from ._tools import ToolSettings
from ._toolspec import ToolsArg

__all__ = ["PollerOptions", "check_options"]


class PollerOptions(TypedDict, total=False):
    rpm: float | None
    budget: Budget | None
    budgets: Mapping[str, Budget] | None
    tpm: float | None
    tokens: TokenBudget | None
    tools: ToolsArg | None
    poll: PollSettings | None
    tool_settings: ToolSettings | None
    max_concurrency: int
    max_in_flight: int | None
    max_concurrent_creates: int | None
    clock: Clock | None
    seed: int | None
    webhooks: WebhookSettings | None
    hooks: Sequence[Hooks] | None


def check_options(options: PollerOptions, request_classes: Set[str]) -> None:
    """``ConfigurationError`` for options no poller can run with (``request_classes``: the
    names ``budgets`` may use)."""
    unknown = set(options.get("budgets") or {}) - set(request_classes)
    if unknown:
        raise ConfigurationError(f"unknown request classes in budgets: {sorted(unknown)}")
    limits = (
        ("max_concurrency", options.get("max_concurrency")),
        ("max_in_flight", options.get("max_in_flight")),
        ("max_concurrent_creates", options.get("max_concurrent_creates")),
    )
    for what, n in limits:
        if n is not None and n < 1:
            raise ConfigurationError(f"{what} must be >= 1")
