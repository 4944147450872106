"""Assistants runs (legacy): ``threads.create_and_run`` → ``runs.retrieve`` → ``messages.list``.

OpenAI sunset the Assistants API on 2026-08-26 (``/v1/assistants`` answers 404 there); the
Responses API replaces it (``ResponsesJobs``). OpenAI-compatible servers still serve it, so
batchpoll keeps this kind for them and keeps the SDK's deprecation warning out of the user's
output. Tools are declared by the assistant (or the call's own ``tools``); the poller's
handlers answer the run's ``requires_action``, and the run resumes with the same id.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from openai import AsyncOpenAI

from .._toolspec import Tool
from ._base import Ids, Reply, Snapshot
from ._json import read, run_snapshot

__all__ = ["AssistantsRuns"]


@contextmanager
def _quiet() -> Iterator[None]:
    """The SDK warns on every Assistants call; the user chose the API, once is enough."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class AssistantsRuns:
    """Kind adapter for Assistants runs; ids are ``thread_id`` and ``run_id``.

    ``create`` params are those of ``threads.create_and_run``, or, when they hold a
    ``thread_id``, those of ``threads.runs.create`` (a run on a thread you created).
    """

    name = "assistants"
    chained = False

    def prepare(self, params: Mapping[str, Any], tools: Sequence[Tool]) -> Mapping[str, Any]:
        """As given: the assistant declares its tools (a ``tools`` param replaces them all,
        so adding the poller's would drop the assistant's own, e.g. ``file_search``)."""
        return params

    def metered(
        self, ids: Ids, outputs: Sequence[tuple[str, str]] | None, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """None: a run's prompt is its thread, which grows on the server; the server's headers
        are the only measure of what it costs."""
        return None

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        with _quiet():
            if "thread_id" in params:  # a run on an existing thread (runs.create)
                raw = await client.beta.threads.runs.with_raw_response.create(**params)
            else:
                raw = await client.beta.threads.with_raw_response.create_and_run(**params)
        run, snapshot = read(raw, run_snapshot)
        return Reply(({"thread_id": run["thread_id"], "run_id": run["id"]}, snapshot), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        with _quiet():
            raw = await client.beta.threads.runs.with_raw_response.retrieve(
                ids["run_id"], thread_id=ids["thread_id"]
            )
        return Reply(read(raw, run_snapshot)[1], raw.headers)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return snapshot.status == "completed"

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        with _quiet():
            raw = await client.beta.threads.messages.with_raw_response.list(
                ids["thread_id"], run_id=ids["run_id"], order="desc", limit=100
            )
        page = raw.parse()
        texts: list[str] = []
        for message in reversed(page.data):  # desc from the API; read them in order
            if message.role != "assistant":
                continue
            for part in message.content:
                if part.type == "text":
                    texts.append(part.text.value)
        return Reply("\n".join(texts) if texts else None, raw.headers)

    async def submit_tool_outputs(
        self,
        client: AsyncOpenAI,
        ids: Ids,
        outputs: Sequence[tuple[str, str]],
        params: Mapping[str, Any],
    ) -> Reply[tuple[Ids, Snapshot]]:
        with _quiet():
            raw = await client.beta.threads.runs.with_raw_response.submit_tool_outputs(
                ids["run_id"],
                thread_id=ids["thread_id"],
                tool_outputs=[{"tool_call_id": cid, "output": out} for cid, out in outputs],
            )
        return Reply((ids, read(raw, run_snapshot)[1]), raw.headers)

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        with _quiet():
            raw = await client.beta.threads.runs.with_raw_response.cancel(
                ids["run_id"], thread_id=ids["thread_id"]
            )
        return Reply(read(raw, run_snapshot)[1], raw.headers)
