"""``run_items``: the bulk run's entry point, directly through one ``Poller`` (``_runner.py``)
or through the Batch API (``--via batch``: ``_batch_mode.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from openai import AsyncOpenAI

from .. import Clock, LoopClock, Poller, ToolHandler
from ._runner import Run
from ._settings import RunSettings
from ._summary import RunProgress, RunSummary

__all__ = ["run_items"]


async def run_items(
    settings: RunSettings,
    client: AsyncOpenAI,
    *,
    tools: Mapping[str, ToolHandler] | None = None,
    stop: asyncio.Event | None = None,
    on_progress: Callable[[RunProgress], None] | None = None,
    progress_every_s: float = 0.5,
    clock: Clock | None = None,
    serve: Callable[[Poller], AbstractAsyncContextManager[Any]] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run (or resume) every item of ``settings.input_path``; results go to the output file.

    ``stop`` set (SIGINT/SIGTERM): stop creating, leave the journal consistent, return with
    ``interrupted``; rerunning resumes. Raises ``InputError``, ``JournalError`` before anything
    is sent, and ``AuthenticationFailedError`` / ``UnreachableError`` when the API cannot be
    used (nothing is recorded as done for the jobs in flight then). ``serve(poller)`` is
    entered as soon as the poller runs and left before it closes (e.g. a webhook receiver).
    ``on_progress`` gets a snapshot every ``progress_every_s`` and the final one;
    ``on_notice`` one-line news for a person: lines changed since they ran, a run that makes
    no progress for ``settings.stall_notice_s`` (and why).
    """
    if settings.batch is not None:  # --via batch: the Batch API instead (docs/batch.md)
        from ._batch_mode import run_batch

        return await run_batch(settings, client, tools=tools, stop=stop, serve=serve,
                               on_progress=on_progress, progress_every_s=progress_every_s,
                               clock=clock, on_notice=on_notice)  # fmt: skip
    run = Run(settings, client, tools or {}, clock or LoopClock(), serve, on_notice)
    return await run.execute(stop, on_progress, progress_every_s)
