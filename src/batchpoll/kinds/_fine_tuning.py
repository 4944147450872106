"""Fine-tuning jobs: ``fine_tuning.jobs.create`` → ``fine_tuning.jobs.retrieve``.

``validating_files`` → ``queued`` → ``running`` → ``succeeded`` (the outcome's ``completed``,
with ``result["fine_tuned_model"]``), ``failed`` or ``cancelled``. OpenAI pushes
``fine_tuning.job.*`` webhooks naming the job id. Jobs take tens of minutes to hours: prior
median 30 min, checks at most 30 min apart, no deadline of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openai import AsyncOpenAI
from openai.types.fine_tuning import FineTuningJob

from .._errors import ConfigurationError
from .._failures import ErrorCode
from .._outcome import ErrorInfo
from ._base import Ids, Reply, Snapshot
from ._long import LongJobKind
from ._timing import KindTiming

__all__ = ["FineTuningJobs"]

_STATUS = {"succeeded": "completed"}  # batchpoll's outcome for the API's success


def _snapshot(job: FineTuningJob) -> Snapshot:
    error = None
    if job.status == "failed":
        e = job.error
        error = (
            ErrorInfo(e.code, e.message) if e is not None else ErrorInfo(ErrorCode.FAILED, "failed")
        )
    return Snapshot(
        status=_STATUS.get(job.status, job.status),
        error=error,
        finished_at=float(job.finished_at) if job.finished_at else None,
        model=job.model,
        result={
            "fine_tuned_model": job.fine_tuned_model,
            "trained_tokens": job.trained_tokens,
            "result_files": list(job.result_files),
        },
    )


class FineTuningJobs(LongJobKind):
    """Kind adapter for fine-tuning jobs; the id is ``fine_tuning_job_id``."""

    name = "fine_tuning"
    timing = KindTiming(prior_median_s=1800.0, prior_sigma=1.0, min_interval_s=5.0)

    def webhook_key(self, ids: Ids) -> str | None:
        """OpenAI sends ``fine_tuning.job.succeeded|failed|cancelled`` naming the job id."""
        return ids.get("fine_tuning_job_id")

    def prepare(self, params: Mapping[str, Any], tools: Any) -> Mapping[str, Any]:
        if not params.get("model") or not params.get("training_file"):
            raise ConfigurationError("a fine-tuning job needs model and training_file")
        return params

    async def create(
        self, client: AsyncOpenAI, params: Mapping[str, Any]
    ) -> Reply[tuple[Ids, Snapshot]]:
        raw = await client.fine_tuning.jobs.with_raw_response.create(**params)
        job = raw.parse()
        return Reply(({"fine_tuning_job_id": job.id}, _snapshot(job)), raw.headers)

    async def check(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.fine_tuning.jobs.with_raw_response.retrieve(ids["fine_tuning_job_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)

    async def cancel(self, client: AsyncOpenAI, ids: Ids) -> Reply[Snapshot]:
        raw = await client.fine_tuning.jobs.with_raw_response.cancel(ids["fine_tuning_job_id"])
        return Reply(_snapshot(raw.parse()), raw.headers)
