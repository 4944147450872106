"""Responses API background jobs: ``responses.create(background=True)`` → ``retrieve``.

The result travels in the retrieved object itself (``output_text``), so a finished job needs
no extra request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openai import AsyncOpenAI
from openai.types.responses import Response

from .._errors import ConfigurationError
from .._outcome import ErrorInfo
from ._base import Ids, Reply, Snapshot

__all__ = ["ResponsesJobs"]


def _snapshot(resp: Response) -> Snapshot:
    status = resp.status or "queued"
    error = None
    if resp.error is not None:
        error = ErrorInfo(str(resp.error.code), resp.error.message)
    elif status == "incomplete" and resp.incomplete_details is not None:
        error = ErrorInfo("incomplete", str(resp.incomplete_details.reason))
    completed_at = resp.completed_at
    return Snapshot(
        status=status,
        error=error,
        output_text=resp.output_text if status == "completed" else None,
        finished_at=float(completed_at) if completed_at is not None else None,
    )


class ResponsesJobs:
    """Kind adapter for background responses; the id is ``response_id``."""

    name = "responses"

    def webhook_key(self, ids: Ids) -> str | None:
        """OpenAI sends ``response.*`` events naming the response id (docs/webhooks.md)."""
        return ids.get("response_id")

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        raw = await client.responses.with_raw_response.create(**{**params, "background": True})
        resp = raw.parse()
        return Reply(({"response_id": resp.id}, _snapshot(resp)), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.responses.with_raw_response.retrieve(ids["response_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)

    def needs_fetch(self, snapshot: Snapshot) -> bool:
        return False

    async def fetch_output(self, client: AsyncOpenAI, ids: Ids) -> Reply[str | None]:
        raise ConfigurationError("responses carry their output; nothing to fetch")

    async def submit_tool_outputs(
        self, client: AsyncOpenAI, ids: Ids, outputs: Sequence[tuple[str, str]]
    ) -> Reply[Snapshot]:
        raise ConfigurationError("background responses do not ask for tool outputs")

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.responses.with_raw_response.cancel(ids["response_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)
