"""The Batch API: ``batches.create`` over an uploaded JSONL file, retrieve, list, cancel.

A batch's life is a pure function of time, like every job of the mock (``_sim``):
``validating`` for ``batch_validating_s``, then ``in_progress`` while its lines run one after
another over ``batch_in_progress_s`` (``request_counts`` grow as they do), ``finalizing`` for
``batch_finalizing_s``, then ``completed``. An input that does not validate (a line that is
not JSON, no ``custom_id``, a duplicate one, a ``url`` other than the batch's endpoint, more
than 50,000 lines) ends ``failed`` with ``errors`` after validating. A batch drawn to expire
(``batch_expire_rate``, or the n-th created: ``batch_expire_nth``) runs its lines at
``batch_expire_share`` of the speed and is ``expired`` when the others would be done: the
lines it finished are in its output file, the rest ``batch_expired`` in its error file. A
cancel: ``cancelling`` for ``cancel_delay_s``, then ``cancelled`` with the lines done so far.

Each line is executed with the mock's own semantics when the batch is created (its result is
fixed then; it becomes visible when the batch ends): ``/v1/responses`` lines as a foreground
response (the same ``expected_reply``), ``/v1/chat/completions`` lines as a chat completion;
an invalid body is that line's 400, and ``batch_line_fail_rate`` of the lines get a 500. The
output and error files are made when a batch is first seen ended (``settle``).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._apierror import ApiError, bad_request, error_body
from ._batch_lines import batch_error, validate_lines
from ._chat import chat_completion
from ._config import MockConfig
from ._files import FilesStore
from ._ids import make_id
from ._pagination import list_object, paginate
from ._requests import check_metadata
from ._responses import ResponsesStore

__all__ = ["BATCH_ENDPOINTS", "BatchRecord", "BatchesStore"]

#: The endpoints the mock can execute lines for.
BATCH_ENDPOINTS = ("/v1/responses", "/v1/chat/completions")
_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_ENDED = ("completed", "expired", "cancelled", "failed")
_LINE_ERRORS = {
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "cancelled": ("batch_cancelled", "This request was not executed: the batch was cancelled."),
}


@dataclass(slots=True)
class LineResult:
    custom_id: str
    status_code: int
    body: dict[str, Any]
    done_at: float  # when the line finishes (if the batch lets it)


@dataclass(slots=True)
class BatchRecord:
    id: str
    seq: int
    endpoint: str
    input_file_id: str
    created_at: float
    metadata: dict[str, str]
    model: str | None
    lines: list[LineResult]
    errors: list[dict[str, Any]]  # validation errors: the batch fails
    expires: bool
    validating_s: float
    in_progress_s: float
    finalizing_s: float
    cancel_delay_s: float
    window_s: float
    cancel_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    settled: bool = False
    retrieves: int = 0
    tokens: int = 0  # enqueued while it runs (its lines' bodies, about 4 characters a token)

    @property
    def in_progress_at(self) -> float:
        return self.created_at + self.validating_s

    @property
    def work_end(self) -> float:
        return self.in_progress_at + self.in_progress_s

    def status(self, now: float) -> tuple[str, float | None]:
        """The status at ``now`` and when it ends (None: it has not ended)."""
        if self.cancel_at is not None and now >= self.cancel_at:
            done = self.cancel_at + self.cancel_delay_s
            return ("cancelled", done) if now >= done else ("cancelling", None)
        if now < self.in_progress_at:
            return "validating", None
        if self.errors:
            return "failed", self.in_progress_at
        if self.expires:
            return ("expired", self.work_end) if now >= self.work_end else ("in_progress", None)
        if now < self.work_end:
            return "in_progress", None
        if now < self.work_end + self.finalizing_s:
            return "finalizing", None
        return "completed", self.work_end + self.finalizing_s

    def cutoff(self, now: float) -> float:
        """Lines done by this instant count (the batch stops running lines when it ends)."""
        if self.cancel_at is not None:
            return min(now, self.cancel_at)
        return min(now, self.work_end)

    def counts(self, now: float) -> dict[str, int]:
        if now < self.in_progress_at or self.errors:
            return {"total": 0 if not self.errors else len(self.lines), "completed": 0, "failed": 0}
        cut = self.cutoff(now)
        done = [line for line in self.lines if line.done_at <= cut]
        ok = sum(1 for line in done if line.status_code == 200)
        return {"total": len(self.lines), "completed": ok, "failed": len(done) - ok}


@dataclass(slots=True)
class _Stats:
    creates_by_metadata: Counter[str] = field(default_factory=Counter)
    cancels: int = 0


class BatchesStore:
    def __init__(self, namespace: str, files: FilesStore, salt: str) -> None:
        self._namespace = namespace
        self._files = files
        self.batches: dict[str, BatchRecord] = {}
        self._order: list[BatchRecord] = []
        self._unsettled: list[BatchRecord] = []
        # Lines run as foreground responses in a store of their own: not in the server's
        # list of jobs, and their ids never collide with the ones clients create.
        self._lines = ResponsesStore(f"{salt}/batch-lines")
        self._stats = _Stats()

    # --- create ---

    def create(self, config: MockConfig, body: Mapping[str, Any], now: float) -> dict[str, Any]:
        endpoint = body.get("endpoint")
        if endpoint not in BATCH_ENDPOINTS:
            raise bad_request(
                f"Invalid value for 'endpoint': {endpoint!r}. The batchpoll mock runs "
                f"batches for {list(BATCH_ENDPOINTS)}.",
                "endpoint",
            )
        if body.get("completion_window") != "24h":
            raise bad_request(
                "Invalid value for 'completion_window': only '24h' is supported.",
                "completion_window",
            )
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str):
            raise bad_request("Missing required parameter: 'input_file_id'.", "input_file_id")
        record = self._files.files.get(file_id)
        if record is None:
            raise ApiError(
                400,
                f"Invalid 'input_file_id': '{file_id}'. File with ID '{file_id}' does not exist.",
                param="input_file_id",
                code="invalid_file_id",
            )
        if record.purpose != "batch":
            raise bad_request(
                f"Invalid 'input_file_id': file '{file_id}' has purpose '{record.purpose}'; "
                "a batch input needs purpose 'batch'.",
                "input_file_id",
            )
        metadata = check_metadata(body.get("metadata"))
        seq = len(self._order) + 1
        rng = random.Random(f"{config.seed}/batch/{seq}")
        expires = seq in config.batch_expire_nth or rng.random() < config.batch_expire_rate
        batch = BatchRecord(
            id=make_id("batch", self._namespace, seq),
            seq=seq,
            endpoint=str(endpoint),
            input_file_id=file_id,
            created_at=now,
            metadata=metadata,
            model=None,
            lines=[],
            errors=[],
            expires=expires,
            validating_s=config.batch_validating_s,
            in_progress_s=config.batch_in_progress_s,
            finalizing_s=config.batch_finalizing_s,
            cancel_delay_s=config.cancel_delay_s,
            window_s=config.batch_window_s,
        )
        self._load_lines(config, batch, record.data, rng)
        self.batches[batch.id] = batch
        self._order.append(batch)
        self._unsettled.append(batch)
        self._stats.creates_by_metadata[json.dumps(metadata, sort_keys=True)] += 1
        return self._json(batch, now)

    def _load_lines(
        self, config: MockConfig, batch: BatchRecord, data: bytes, rng: random.Random
    ) -> None:
        lines, batch.errors = validate_lines(data, batch.endpoint)
        if batch.errors:
            return
        n = len(lines)
        speed = config.batch_expire_share if batch.expires else 1.0
        for i, (custom_id, req) in enumerate(lines):
            if batch.model is None and isinstance(req.get("model"), str):
                batch.model = req["model"]
            done_at = batch.in_progress_at + batch.in_progress_s * (i + 1) / n / speed
            failed = rng.random() < config.batch_line_fail_rate
            status, reply = self._execute(config, batch, i, req, done_at)
            if failed and status == 200:
                status, reply = 500, error_body(_SERVER_ERROR, "server_error")
            batch.lines.append(LineResult(custom_id, status, reply, done_at))
            batch.tokens += math.ceil(len(json.dumps(req)) / 4)
        limit = config.batch_queue_tokens
        if limit is not None and batch.model is not None:
            queued = self._enqueued(batch.model, batch.created_at)
            if queued + batch.tokens > limit:
                # OpenAI's wording; the batch fails once validated, nothing of it runs.
                batch.errors.append(
                    batch_error(
                        "token_limit_exceeded",
                        f"Enqueued token limit reached for {batch.model} in organization "
                        f"org-batchpoll-mock. Limit: {limit:,} enqueued tokens. Please try "
                        "submitting fewer tasks, or wait for some tasks to complete before "
                        "submitting more.",
                        None,
                    )
                )

    def _enqueued(self, model: str, now: float) -> int:
        """Tokens of the batches of ``model`` that have not ended by ``now``."""
        return sum(
            b.tokens
            for b in self._order
            if b.model == model and not b.errors and b.status(now)[0] not in _ENDED
        )

    def _execute(
        self, config: MockConfig, batch: BatchRecord, i: int, req: dict[str, Any], at: float
    ) -> tuple[int, dict[str, Any]]:
        try:
            if batch.endpoint == "/v1/chat/completions":
                cid = make_id("chatcmpl", self._namespace, batch.seq, i)
                return 200, chat_completion(req, at, cid.replace("_", "-", 1))
            body = {**req, "background": False}
            # A unique sequence number per line: batch seq and line (≤ 50,000) side by side.
            response, _, _ = self._lines.create(config, body, at, batch.seq * 100_000 + i + 1)
            return 200, response
        except ApiError as exc:
            return exc.status, exc.body()

    # --- settle: the output and error files of batches that ended ---

    def settle(self, now: float) -> None:
        """Make the output and error files of every batch that has ended by ``now``."""
        still: list[BatchRecord] = []
        for batch in self._unsettled:
            status, ended_at = batch.status(now)
            if ended_at is None or status not in _ENDED:
                still.append(batch)
                continue
            self._make_files(batch, status, ended_at)
        self._unsettled = still

    def _make_files(self, batch: BatchRecord, status: str, ended_at: float) -> None:
        batch.settled = True
        if status == "failed":
            return
        cut = batch.cutoff(ended_at)
        out: list[str] = []
        err: list[str] = []
        for i, line in enumerate(batch.lines):
            line_id = make_id("batch_req", self._namespace, batch.seq, i)
            if line.done_at <= cut:
                entry = {
                    "id": line_id,
                    "custom_id": line.custom_id,
                    "response": {
                        "status_code": line.status_code,
                        "request_id": make_id("req", self._namespace, batch.seq, i),
                        "body": line.body,
                    },
                    "error": None,
                }
                (out if line.status_code == 200 else err).append(json.dumps(entry))
            else:
                code, message = _LINE_ERRORS["cancelled" if status == "cancelled" else "expired"]
                entry = {
                    "id": line_id,
                    "custom_id": line.custom_id,
                    "response": None,
                    "error": {"code": code, "message": message},
                }
                err.append(json.dumps(entry))
        if out:
            name = f"batch_{batch.id}_output.jsonl"
            data = ("\n".join(out) + "\n").encode()
            batch.output_file_id = self._files.add(name, "batch_output", data, ended_at).id
        if err:
            name = f"batch_{batch.id}_error.jsonl"
            data = ("\n".join(err) + "\n").encode()
            batch.error_file_id = self._files.add(name, "batch_output", data, ended_at).id

    # --- retrieve, list, cancel ---

    def _get(self, batch_id: str) -> BatchRecord:
        batch = self.batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"No batch found with id '{batch_id}'.")
        return batch

    def retrieve(self, batch_id: str, now: float) -> dict[str, Any]:
        batch = self._get(batch_id)
        batch.retrieves += 1
        self.settle(now)
        return self._json(batch, now)

    def list(self, query: Mapping[str, str], now: float) -> dict[str, Any]:
        self.settle(now)
        page, has_more = paginate(self._order, lambda b: b.id, query)
        return list_object([self._json(b, now) for b in page], has_more)

    def cancel(self, batch_id: str, now: float) -> dict[str, Any]:
        batch = self._get(batch_id)
        status, _ = batch.status(now)
        if status in _ENDED or status == "cancelling":
            raise bad_request(f"Cannot cancel a batch with status '{status}'.")
        batch.cancel_at = now
        self._stats.cancels += 1
        return self._json(batch, now)

    def _json(self, batch: BatchRecord, now: float) -> dict[str, Any]:
        status, ended_at = batch.status(now)

        def at(t: float | None) -> int | None:
            return None if t is None else math.floor(t)

        started = now >= batch.in_progress_at and not batch.errors
        finalizing = batch.work_end if status in ("finalizing", "completed") else None
        cancelling = batch.cancel_at if batch.cancel_at is not None else None
        reply: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": at(batch.created_at),
            "in_progress_at": at(batch.in_progress_at) if started else None,
            "expires_at": at(batch.created_at + batch.window_s),
            "finalizing_at": at(finalizing),
            "completed_at": at(ended_at) if status == "completed" else None,
            "failed_at": at(ended_at) if status == "failed" else None,
            "expired_at": at(ended_at) if status == "expired" else None,
            "cancelling_at": at(cancelling),
            "cancelled_at": at(ended_at) if status == "cancelled" else None,
            "request_counts": batch.counts(now),
            "metadata": batch.metadata,
        }
        if batch.model is not None:  # a batch that failed validation ran no model
            reply["model"] = batch.model
        return reply

    def as_json(self, now: float) -> dict[str, Any]:
        by_status: Counter[str] = Counter(b.status(now)[0] for b in self._order)
        return {
            "created": len(self._order),
            "by_status": dict(sorted(by_status.items())),
            "creates_by_metadata": dict(sorted(self._stats.creates_by_metadata.items())),
            "retrieves_by_batch": {b.id: b.retrieves for b in self._order},
            "cancels": self._stats.cancels,
            "lines": sum(len(b.lines) for b in self._order),
        }
