"""A job kind without HTTP, for measuring the scheduler itself (B3)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from openai import AsyncOpenAI

from batchpoll.kinds import Ids, Reply, Snapshot

NO_HEADERS: Mapping[str, str] = {}
RUNNING = Snapshot("in_progress")
DONE = Snapshot("completed")


class StubKind:
    """Finished once the loop clock passes the job's finish time; ``check`` does no I/O."""

    name = "stub"
    chained = False

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Any]) -> Mapping[str, Any]:
        return params

    def metered(self, ids: Ids, outputs: Any, params: Mapping[str, Any]) -> None:
        return None

    def __init__(self) -> None:
        self.finish_at: dict[str, float] = {}

    def plan(self, n: int, median_s: float, sigma: float = 0.8, seed: int = 1) -> list[str]:
        """Give ``n`` jobs lognormal durations from now; their keys."""
        rng = random.Random(seed)
        now = asyncio.get_running_loop().time()
        keys = [str(i) for i in range(n)]
        for key in keys:
            self.finish_at[key] = now + median_s * math.exp(sigma * rng.gauss(0, 1))
        return keys

    async def create(self, client: AsyncOpenAI, params: Mapping[str, Any]) -> Reply[Any]:
        raise NotImplementedError

    async def check(self, client: AsyncOpenAI | None, ids: Ids) -> Reply[Snapshot]:
        done = asyncio.get_running_loop().time() >= self.finish_at[ids["id"]]
        return Reply(DONE if done else RUNNING, NO_HEADERS)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return False

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        raise NotImplementedError

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        raise NotImplementedError

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raise NotImplementedError
