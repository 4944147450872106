"""Batch API jobs: ``batches.create`` over an uploaded JSONL file → ``batches.retrieve``.

A batch passes through ``validating``, ``in_progress``, ``finalizing`` (and ``cancelling``)
and ends ``completed``, ``failed`` (its input did not validate), ``expired`` (its 24 h window
ended: the lines it finished are still in its output file) or ``cancelled``. Its result is not
a text but files: ``Outcome.result`` holds ``output_file_id``, ``error_file_id`` and
``request_counts``; a ``completed`` batch may still have failed lines (in its error file).
OpenAI pushes ``batch.*`` webhooks naming the batch id. Batches take minutes to hours: the
kind has its own ``KindTiming`` (prior median 1 h, checks at most 30 min apart, our deadline
26 h: the 24 h window plus the time to finalize).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import AsyncOpenAI
from openai.types import Batch

from .._errors import ConfigurationError
from .._failures import ErrorCode
from .._outcome import ErrorInfo
from ._base import Ids, Reply, Snapshot
from ._long import LongJobKind
from ._timing import KindTiming

__all__ = ["BATCH_ENDPOINTS", "BatchJobs", "batch_result"]

#: The endpoints batchpoll sends batches to (the Batch API has more; these have item lines).
BATCH_ENDPOINTS = ("/v1/responses", "/v1/chat/completions")


def batch_result(batch: Batch) -> dict[str, Any]:
    counts = batch.request_counts
    return {
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "request_counts": (
            None
            if counts is None
            else {"total": counts.total, "completed": counts.completed, "failed": counts.failed}
        ),
    }


def _snapshot(batch: Batch) -> Snapshot:
    status = batch.status
    error = None
    if status == "failed":
        data = (batch.errors.data or []) if batch.errors is not None else []
        if data:
            first = data[0]
            where = f"line {first.line}: " if first.line is not None else ""
            error = ErrorInfo(first.code or "failed", f"{where}{first.message}")
        else:
            error = ErrorInfo(ErrorCode.FAILED, "the batch failed")
    elif status == "expired":
        error = ErrorInfo(
            ErrorCode.EXPIRED, "the batch's 24 h window ended before all its lines ran"
        )
    finished = batch.completed_at or batch.failed_at or batch.expired_at or batch.cancelled_at
    return Snapshot(
        status=status,
        error=error,
        expires_at=float(batch.expires_at) if batch.expires_at else None,
        started_at=float(batch.in_progress_at) if batch.in_progress_at else None,
        finished_at=float(finished) if finished else None,
        model=batch.model,
        result=batch_result(batch),
    )


class BatchJobs(LongJobKind):
    """Kind adapter for batches; the id is ``batch_id``. Create params are those of
    ``batches.create`` (``input_file_id``, ``endpoint``, ``metadata``; the completion window
    is ``24h``, the only one OpenAI offers)."""

    name = "batch"
    timing = KindTiming(
        prior_median_s=3600.0, prior_sigma=1.0, min_interval_s=5.0, timeout_s=26 * 3600.0
    )

    def webhook_key(self, ids: Ids) -> str | None:
        """OpenAI sends ``batch.completed|failed|expired|cancelled`` naming the batch id."""
        return ids.get("batch_id")

    def prepare(self, params: Mapping[str, Any], tools: Any) -> Mapping[str, Any]:
        if not isinstance(params.get("input_file_id"), str):
            raise ConfigurationError("a batch needs input_file_id (an uploaded purpose=batch file)")
        if params.get("endpoint") is None:
            raise ConfigurationError(f"a batch needs endpoint, e.g. one of {BATCH_ENDPOINTS}")
        window = params.get("completion_window", "24h")
        if window != "24h":
            raise ConfigurationError("completion_window must be '24h' (the only one offered)")
        return {**params, "completion_window": "24h"}

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        raw = await client.batches.with_raw_response.create(**params)
        batch = raw.parse()
        return Reply(({"batch_id": batch.id}, _snapshot(batch)), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.batches.with_raw_response.retrieve(ids["batch_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.batches.with_raw_response.cancel(ids["batch_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)
