"""Fine-tuning jobs and vector-store file batches: just enough to be tracked to their end.

Both are pure functions of time. A fine-tuning job: ``validating_files`` for the first 10 %
of ``fine_tune_duration_s``, ``queued`` to 20 %, ``running`` to the end, then ``succeeded``
(with ``fine_tuned_model``) or ``failed`` (``fine_tune_fail_rate``); a cancel is immediate.
A file batch: ``in_progress`` for ``file_batch_duration_s`` while ``file_counts`` move from
in_progress to completed, then ``completed``; a cancel is immediate (files not yet processed
count as cancelled). Vector stores themselves are not simulated: any id is accepted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._apierror import ApiError, bad_request
from ._config import MockConfig
from ._files import FilesStore
from ._ids import make_id
from ._pagination import paginate
from ._requests import check_metadata

__all__ = ["FileBatchRecord", "FineTuneRecord", "LongJobsStore"]


@dataclass(slots=True)
class FineTuneRecord:
    id: str
    model: str
    training_file: str
    validation_file: str | None
    created_at: float
    duration_s: float
    fails: bool
    seed: int
    suffix: str | None
    metadata: dict[str, str] | None
    cancel_at: float | None = None
    retrieves: int = 0

    def status(self, now: float) -> tuple[str, float | None]:
        end = self.created_at + self.duration_s
        if self.cancel_at is not None and self.cancel_at < end:
            return "cancelled", self.cancel_at
        age = (now - self.created_at) / self.duration_s
        if age < 0.1:
            return "validating_files", None
        if age < 0.2:
            return "queued", None
        if age < 1.0:
            return "running", None
        return ("failed" if self.fails else "succeeded"), end

    def as_json(self, now: float) -> dict[str, Any]:
        status, finished = self.status(now)
        ok = status == "succeeded"
        suffix = self.suffix or "mock"
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": math.floor(self.created_at),
            "error": (
                {"code": "invalid_training_file", "message": "Training failed.", "param": None}
                if status == "failed"
                else None
            ),
            "fine_tuned_model": f"ft:{self.model}:batchpoll:{suffix}:{self.id[-8:]}"
            if ok
            else None,
            "finished_at": None if finished is None else math.floor(finished),
            "hyperparameters": {"batch_size": 1, "learning_rate_multiplier": 1.0, "n_epochs": 3},
            "model": self.model,
            "organization_id": "org-batchpoll-mock",
            "result_files": [],
            "seed": self.seed,
            "status": status,
            "trained_tokens": 1000 if ok else None,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "estimated_finish": math.floor(self.created_at + self.duration_s),
            "integrations": None,
            "metadata": self.metadata,
        }


@dataclass(slots=True)
class FileBatchRecord:
    id: str
    vector_store_id: str
    files: int
    created_at: float
    duration_s: float
    cancel_at: float | None = None
    retrieves: int = 0

    def as_json(self, now: float) -> dict[str, Any]:
        end = self.created_at + self.duration_s
        stop = end if self.cancel_at is None else min(end, self.cancel_at)
        share = min(1.0, max(0.0, (min(now, stop) - self.created_at) / self.duration_s))
        completed = math.floor(self.files * share)
        if self.cancel_at is not None and self.cancel_at < end and now >= self.cancel_at:
            status = "cancelled"
            counts = (0, completed, 0, self.files - completed)
        elif now >= end:
            status, counts = "completed", (0, self.files, 0, 0)
        else:
            status, counts = "in_progress", (self.files - completed, completed, 0, 0)
        in_progress, done, failed, cancelled = counts
        return {
            "id": self.id,
            "object": "vector_store.files_batch",
            "created_at": math.floor(self.created_at),
            "vector_store_id": self.vector_store_id,
            "status": status,
            "file_counts": {
                "in_progress": in_progress,
                "completed": done,
                "failed": failed,
                "cancelled": cancelled,
                "total": self.files,
            },
        }


class LongJobsStore:
    def __init__(self, namespace: str, files: FilesStore) -> None:
        self._namespace = namespace
        self._files = files
        self.fine_tunes: dict[str, FineTuneRecord] = {}
        self._ft_order: list[FineTuneRecord] = []
        self.file_batches: dict[str, FileBatchRecord] = {}

    # --- fine-tuning ---

    def create_fine_tune(
        self, config: MockConfig, body: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad_request("Missing required parameter: 'model'.", "model")
        training = body.get("training_file")
        if not isinstance(training, str) or training not in self._files.files:
            raise bad_request(f"Invalid file id: {training!r}.", "training_file")
        validation = body.get("validation_file")
        if validation is not None and validation not in self._files.files:
            raise bad_request(f"Invalid file id: {validation!r}.", "validation_file")
        seq = len(self._ft_order) + 1
        rng = random.Random(f"{config.seed}/fine_tune/{seq}")
        raw_seed = body.get("seed")
        record = FineTuneRecord(
            id=make_id("ftjob", self._namespace, seq).replace("_", "-", 1),
            model=model,
            training_file=training,
            validation_file=validation if isinstance(validation, str) else None,
            created_at=now,
            duration_s=config.fine_tune_duration_s,
            fails=rng.random() < config.fine_tune_fail_rate,
            seed=raw_seed if isinstance(raw_seed, int) else seq,
            suffix=body.get("suffix") if isinstance(body.get("suffix"), str) else None,
            metadata=check_metadata(body.get("metadata")) or None,
        )
        self.fine_tunes[record.id] = record
        self._ft_order.append(record)
        return record.as_json(now)

    def fine_tune_seq(self, job_id: str) -> int:
        return 1 + self._ft_order.index(self.fine_tunes[job_id])

    def _fine_tune(self, job_id: str) -> FineTuneRecord:
        record = self.fine_tunes.get(job_id)
        if record is None:
            raise ApiError(
                404, f"Could not find fine tune job: {job_id}", code="fine_tune_not_found"
            )
        return record

    def get_fine_tune(self, job_id: str, now: float) -> dict[str, Any]:
        record = self._fine_tune(job_id)
        record.retrieves += 1
        return record.as_json(now)

    def list_fine_tunes(self, query: Mapping[str, str], now: float) -> dict[str, Any]:
        page, has_more = paginate(self._ft_order, lambda r: r.id, query)
        return {
            "object": "list",
            "data": [r.as_json(now) for r in page],
            "has_more": has_more,
        }

    def cancel_fine_tune(self, job_id: str, now: float) -> dict[str, Any]:
        record = self._fine_tune(job_id)
        status, _ = record.status(now)
        if status in ("succeeded", "failed", "cancelled"):
            raise bad_request(f"Job has already completed: {status}.")
        record.cancel_at = now
        return record.as_json(now)

    # --- vector-store file batches ---

    def create_file_batch(
        self, config: MockConfig, vector_store_id: str, body: Mapping[str, Any], now: float
    ) -> dict[str, Any]:
        file_ids = body.get("file_ids")
        files = body.get("files")
        count = 0
        if isinstance(file_ids, list) and file_ids:
            count = len(file_ids)
        elif isinstance(files, list) and files:
            count = len(files)
        else:
            raise bad_request("Missing required parameter: 'file_ids'.", "file_ids")
        seq = len(self.file_batches) + 1
        record = FileBatchRecord(
            id=make_id("vsfb", self._namespace, seq),
            vector_store_id=vector_store_id,
            files=count,
            created_at=now,
            duration_s=config.file_batch_duration_s,
        )
        self.file_batches[record.id] = record
        return record.as_json(now)

    def _file_batch(self, vector_store_id: str, batch_id: str) -> FileBatchRecord:
        record = self.file_batches.get(batch_id)
        if record is None or record.vector_store_id != vector_store_id:
            raise ApiError(404, f"No file batch found with id '{batch_id}'.")
        return record

    def get_file_batch(self, vector_store_id: str, batch_id: str, now: float) -> dict[str, Any]:
        record = self._file_batch(vector_store_id, batch_id)
        record.retrieves += 1
        return record.as_json(now)

    def cancel_file_batch(self, vector_store_id: str, batch_id: str, now: float) -> dict[str, Any]:
        record = self._file_batch(vector_store_id, batch_id)
        if record.as_json(now)["status"] != "in_progress":
            raise bad_request("Cannot cancel a file batch that is not in progress.")
        record.cancel_at = now
        return record.as_json(now)

    def as_json(self) -> dict[str, Any]:
        return {
            "fine_tuning_jobs": len(self.fine_tunes),
            "fine_tuning_retrieves": sum(r.retrieves for r in self.fine_tunes.values()),
            "file_batches": len(self.file_batches),
            "file_batch_retrieves": sum(r.retrieves for r in self.file_batches.values()),
        }
