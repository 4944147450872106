"""``LongJobKind``: what the long-running kinds (batches, fine-tuning jobs, file batches)
share: no tools, no prompt to meter, the result in the status object itself (file ids,
counts, a model name) rather than a text to fetch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openai import AsyncOpenAI

from .._errors import ConfigurationError
from .._toolspec import Tool
from ._base import Ids, Reply, Snapshot
from ._timing import KindTiming

__all__ = ["LongJobKind"]


class LongJobKind:
    """Base of the long kinds; subclasses set ``name`` and ``timing`` and implement
    ``create``, ``check`` and ``cancel``."""

    name = "long"
    chained = False
    timing = KindTiming(prior_median_s=600.0)

    def __init__(self, timing: KindTiming | None = None) -> None:
        if timing is not None:
            self.timing = timing

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Tool]) -> Mapping[str, Any]:
        return params  # the poller's tools do not apply: these jobs call no functions

    def metered(
        self, ids: Ids, outputs: Sequence[tuple[str, str]] | None, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        return None  # no prompt in the request itself (a batch's lines are in its file)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return False

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        raise ConfigurationError(f"{self.name}: the result is in the status object")

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        raise ConfigurationError(f"{self.name} jobs do not call tools")
