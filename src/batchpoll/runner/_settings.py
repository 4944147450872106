"""Settings of a bulk run."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .. import ConfigurationError, PollSettings, RedisBudget, WebhookSettings
from ._batch_settings import BatchSettings
from ._items import ItemDefaults
from ._plan import RETRYABLE

__all__ = ["CreateMode", "RunSettings", "warm_up"]

CreateMode = Literal["fast", "safe"]

# A crash leaves at most this much of the budget's creates in doubt by default (fast mode).
_IN_DOUBT_S = 0.5


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What to run and how. ``base_url``: the server the journal is bound to (default: the
    client's; the client is passed to ``run_items``); ``timeout_s`` is each job's overall
    deadline. ``retry``: statuses whose items run again (``RETRYABLE``); ``redo_changed``:
    lines edited since they ran run again too (docs/journal.md)."""

    input_path: Path
    output_path: Path
    rpm: float
    tpm: float | None = None  # tokens per minute per model (Responses creates, continuations)
    journal_path: Path | None = None  # default: next to the output, "<output>.journal"
    base_url: str | None = None
    defaults: ItemDefaults = field(default_factory=ItemDefaults)
    create_mode: CreateMode = "fast"
    # A create that failed after it may have reached the server (PollSettings.ambiguous_creates).
    ambiguous_creates: Literal["auto", "retry", "report"] = "auto"
    timeout_s: float | None = 3600.0
    max_in_flight: int | None = None  # default: 30 s of the budget, at least 50
    # Creates between their token and their reply, which a crash leaves `uncertain` (fast
    # mode); default ``creates_limit`` (docs/journal.md).
    max_concurrent_creates: int | None = None
    poll: PollSettings | None = None
    webhooks: WebhookSettings | None = None  # on: background responses poll as a safety net
    stop_grace_s: float = 10.0  # on stop: how long creates already sent may take to answer
    seed: int | None = None
    retry: frozenset[str] = frozenset()
    redo_changed: bool = False
    stall_notice_s: float = 60.0  # no item finished for this long: say why (``on_notice``)
    batch: BatchSettings | None = None  # set: through the Batch API (--via batch, docs/batch.md)
    # A budget shared with other processes and hosts (docs/scale-out.md): a redis:// URL.
    budget_url: str | None = None
    budget_name: str = "batchpoll"
    shard: tuple[int, int] | None = None  # (k, n): only the items whose id falls in shard k of n

    def __post_init__(self) -> None:
        if not self.rpm > 0:
            raise ConfigurationError("rpm must be > 0")
        if self.tpm is not None and not self.tpm > 0:
            raise ConfigurationError("tpm must be > 0")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be >= 1")
        if self.max_concurrent_creates is not None and self.max_concurrent_creates < 1:
            raise ConfigurationError("max_concurrent_creates must be >= 1")
        if self.ambiguous_creates not in ("auto", "retry", "report"):
            raise ConfigurationError("ambiguous_creates must be 'auto', 'retry' or 'report'")
        if self.create_mode not in ("fast", "safe"):
            raise ConfigurationError("create_mode must be 'fast' or 'safe'")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigurationError("timeout_s must be > 0")
        if self.shard is not None and not 1 <= self.shard[0] <= self.shard[1]:
            raise ConfigurationError("shard must be K/N with 1 <= K <= N")
        if self.shard is not None and self.batch is not None:
            raise ConfigurationError("--shard is for runs of background jobs, not --via batch")
        unknown = sorted(set(self.retry) - RETRYABLE)
        if unknown:
            raise ConfigurationError(
                f"retry: unknown status {', '.join(map(repr, unknown))} (choose from "
                f"{', '.join(sorted(RETRYABLE))})"
            )

    def shared_budget(self) -> RedisBudget | None:
        """The Redis budget of ``budget_url`` (None: the run's own, local budget)."""
        if self.budget_url is None:
            return None
        return RedisBudget(self.budget_url, name=self.budget_name, rpm=self.rpm)

    @property
    def journal(self) -> Path:
        return self.journal_path or self.output_path.with_name(self.output_path.name + ".journal")

    def creates_limit(self, responses: int) -> int | None:
        """Creates at once, between their token and their reply: the given cap, else half a
        second of the budget (at least 2) wherever a crash could leave a create in doubt
        (fast mode, or ``responses`` items: no safe mode finds those again), else none (safe
        mode finds every run again on its thread). Half a second is more than a create's
        round trip, so the default bounds a crash's damage without slowing the creates."""
        if self.max_concurrent_creates is not None:
            return self.max_concurrent_creates
        if self.create_mode == "safe" and not responses:
            return None
        return max(2, math.ceil(self.rpm / 60.0 * _IN_DOUBT_S))

    def poll_settings(self) -> PollSettings:
        """The poller's: ``poll`` with the run's deadline and ambiguous-create policy."""
        poll = self.poll or PollSettings()
        return replace(poll, timeout_s=self.timeout_s, ambiguous_creates=self.ambiguous_creates)

    @property
    def in_flight_limit(self) -> int:
        # Enough jobs to keep the budget busy through typical job durations.
        return self.max_in_flight or max(50, math.ceil(self.rpm / 60.0 * 30.0))


async def warm_up(budget: RedisBudget | None, client: Any, items: int, responses: int) -> None:
    """With a shared budget: its first script run, then the SDK's lazy setup of the resources
    the run calls (0.4-0.9 s of imports, blocking, inside the first create otherwise). Called
    before any request is granted: a new budget's birth pause (docs/scale-out.md) is idle
    time, while the same stall after the pause came in every shard at once, left the budget's
    first slots unused, and delayed granted requests (a request sent over
    ``max_send_delay_s`` after its grant may be counted outside its lease: 22 in one server
    second and 2 x 429 in a 3-shard run while it raced the grants)."""
    if budget is None:
        return
    assistants = responses < items
    await budget.start()
    with contextlib.suppress(Exception):  # a client without these attributes: nothing to do
        if assistants:
            _ = client.beta.threads.runs, client.beta.threads.messages
        if responses > 0:
            _ = client.responses
