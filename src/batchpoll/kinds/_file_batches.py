"""Vector-store file batches: ``vector_stores.file_batches.create`` → ``.retrieve``.

``in_progress`` → ``completed``, ``failed`` or ``cancelled``; ``result["file_counts"]``
says how many files were processed, failed or cancelled. OpenAI sends no webhooks for them,
and the SDK's own helper polls every second: here the schedule is learned (prior median
30 s, checks 1 s..2 min apart, our deadline 1 h).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import AsyncOpenAI
from openai.types.vector_stores import VectorStoreFileBatch

from .._errors import ConfigurationError
from .._failures import ErrorCode
from .._outcome import ErrorInfo
from ._base import Ids, Reply, Snapshot
from ._long import LongJobKind
from ._timing import KindTiming

__all__ = ["VectorStoreFileBatches"]


def _snapshot(batch: VectorStoreFileBatch) -> Snapshot:
    c = batch.file_counts
    counts = {
        "in_progress": c.in_progress,
        "completed": c.completed,
        "failed": c.failed,
        "cancelled": c.cancelled,
        "total": c.total,
    }
    error = None
    if batch.status == "failed":
        error = ErrorInfo(
            ErrorCode.FAILED, f"the file batch failed ({c.failed} of {c.total} files)"
        )
    return Snapshot(status=batch.status, error=error, result={"file_counts": counts})


class VectorStoreFileBatches(LongJobKind):
    """Kind adapter for file batches; the ids are ``vector_store_id`` and ``file_batch_id``.
    Create params: ``vector_store_id`` plus those of ``file_batches.create`` (``file_ids``)."""

    name = "vector_store_file_batch"
    timing = KindTiming(
        prior_median_s=30.0,
        prior_sigma=1.0,
        min_interval_s=1.0,
        max_interval_s=120.0,
        timeout_s=3600.0,
    )

    def prepare(self, params: Mapping[str, Any], tools: Any) -> Mapping[str, Any]:
        if not params.get("vector_store_id"):
            raise ConfigurationError("a file batch needs vector_store_id")
        return params

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        body = dict(params)
        store = str(body.pop("vector_store_id"))
        raw = await client.vector_stores.file_batches.with_raw_response.create(store, **body)
        batch = raw.parse()
        ids = {"vector_store_id": store, "file_batch_id": batch.id}
        return Reply((ids, _snapshot(batch)), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.vector_stores.file_batches.with_raw_response.retrieve(
            ids["file_batch_id"], vector_store_id=ids["vector_store_id"]
        )
        return Reply(_snapshot(raw.parse()), raw.headers)

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.vector_stores.file_batches.with_raw_response.cancel(
            ids["file_batch_id"], vector_store_id=ids["vector_store_id"]
        )
        return Reply(_snapshot(raw.parse()), raw.headers)
