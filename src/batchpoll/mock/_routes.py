"""The OpenAI-compatible routes under ``/v1``: template, request class, handler.

The template is also the key of ``requests_by_route`` in the stats. Order matters to the
router only for the catch-all, which must come last (unknown URLs get OpenAI's 404).
"""

from __future__ import annotations

import math
from typing import Any

from ._apierror import ApiError
from ._outgoing import RawBody
from ._state import Call, RouteSpec

__all__ = ["V1_ROUTES"]


def _create_assistant(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.create_assistant(c.config, c.body, c.now)


def _get_assistant(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.get_assistant(c.params["assistant_id"])


def _create_thread(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.create_thread(c.config, c.body, c.now)


def _get_thread(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.get_thread(c.params["thread_id"])


def _create_and_run(c: Call) -> tuple[int, Any]:
    seq = c.state.next_seq("run")
    run, job = c.state.assistants.create_and_run(c.config, c.body, c.now, seq)
    c.state.add_job(job)
    return 200, run


def _create_run(c: Call) -> tuple[int, Any]:
    seq = c.state.next_seq("run")
    run, job = c.state.assistants.create_run(c.config, c.params["thread_id"], c.body, c.now, seq)
    c.state.add_job(job)
    return 200, run


def _list_runs(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.list_runs(c.params["thread_id"], c.query, c.now)


def _get_run(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.get_run(c.params["thread_id"], c.params["run_id"], c.now)


def _submit_tool_outputs(c: Call) -> tuple[int, Any]:
    p = c.params
    return 200, c.state.assistants.submit_tool_outputs(p["thread_id"], p["run_id"], c.body, c.now)


def _cancel_run(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.cancel_run(c.params["thread_id"], c.params["run_id"], c.now)


def _create_message(c: Call) -> tuple[int, Any]:
    thread_id = c.params["thread_id"]
    return 200, c.state.assistants.create_message(c.config, thread_id, c.body, c.now)


def _list_messages(c: Call) -> tuple[int, Any]:
    return 200, c.state.assistants.list_messages(c.params["thread_id"], c.query, c.now)


def _get_message(c: Call) -> tuple[int, Any]:
    p = c.params
    return 200, c.state.assistants.get_message(p["thread_id"], p["message_id"], c.now)


def _create_response(c: Call) -> tuple[int, Any]:
    seq = c.state.next_seq("response")
    response, job, record = c.state.responses.create(c.config, c.body, c.now, seq)
    if job is not None:  # a new chain; a continuation adds a response to an existing one
        c.state.add_job(job)
    if record.background:  # its end, and so its event, is known now
        c.state.webhooks.response_started(c.config, record.chain.job, record.id, record.index)
    return 200, response


def _get_response(c: Call) -> tuple[int, Any]:
    return 200, c.state.responses.retrieve(c.params["response_id"], c.now)


def _cancel_response(c: Call) -> tuple[int, Any]:
    response_id = c.params["response_id"]
    reply = c.state.responses.cancel(response_id, c.now)
    record = c.state.responses.responses[response_id]
    c.state.webhooks.job_cancelled(c.config, record.chain.job, response_id, record.index)
    return 200, reply


def _upload_file(c: Call) -> tuple[int, Any]:
    return 200, c.state.files.upload(c.raw, c.content_type, c.now)


def _get_file(c: Call) -> tuple[int, Any]:
    c.state.batches.settle(c.now)  # a batch that ended meanwhile has its files now
    return 200, c.state.files.get(c.params["file_id"]).as_json()


def _list_files(c: Call) -> tuple[int, Any]:
    c.state.batches.settle(c.now)
    return 200, c.state.files.list(c.query)


def _file_content(c: Call) -> tuple[int, Any]:
    c.state.batches.settle(c.now)
    return 200, RawBody(c.state.files.content(c.params["file_id"]))


def _delete_file(c: Call) -> tuple[int, Any]:
    return 200, c.state.files.delete(c.params["file_id"])


def _batch_event(c: Call, batch_id: str) -> None:
    """Its end is known now (created, or cancelled): its ``batch.*`` event is scheduled."""
    batch = c.state.batches.batches[batch_id]
    status, ended_at = batch.status(math.inf)
    if ended_at is not None:
        c.state.webhooks.long_job_event(
            c.config, "batch", batch.id, batch.seq, status, ended_at,
            lambda: batch.status(math.inf)[0],
        )  # fmt: skip


def _fine_tune_event(c: Call, job_id: str) -> None:
    job = c.state.long_jobs.fine_tunes[job_id]
    status, ended_at = job.status(math.inf)
    if ended_at is not None:
        seq = c.state.long_jobs.fine_tune_seq(job_id)
        c.state.webhooks.long_job_event(
            c.config, "fine_tuning", job.id, seq, status, ended_at,
            lambda: job.status(math.inf)[0],
        )  # fmt: skip


def _create_batch(c: Call) -> tuple[int, Any]:
    reply = c.state.batches.create(c.config, c.body, c.now)
    _batch_event(c, reply["id"])
    return 200, reply


def _get_batch(c: Call) -> tuple[int, Any]:
    return 200, c.state.batches.retrieve(c.params["batch_id"], c.now)


def _list_batches(c: Call) -> tuple[int, Any]:
    return 200, c.state.batches.list(c.query, c.now)


def _cancel_batch(c: Call) -> tuple[int, Any]:
    reply = c.state.batches.cancel(c.params["batch_id"], c.now)
    _batch_event(c, reply["id"])
    return 200, reply


def _create_fine_tune(c: Call) -> tuple[int, Any]:
    reply = c.state.long_jobs.create_fine_tune(c.config, c.body, c.now)
    _fine_tune_event(c, reply["id"])
    return 200, reply


def _get_fine_tune(c: Call) -> tuple[int, Any]:
    return 200, c.state.long_jobs.get_fine_tune(c.params["fine_tuning_job_id"], c.now)


def _list_fine_tunes(c: Call) -> tuple[int, Any]:
    return 200, c.state.long_jobs.list_fine_tunes(c.query, c.now)


def _cancel_fine_tune(c: Call) -> tuple[int, Any]:
    reply = c.state.long_jobs.cancel_fine_tune(c.params["fine_tuning_job_id"], c.now)
    _fine_tune_event(c, reply["id"])
    return 200, reply


def _create_file_batch(c: Call) -> tuple[int, Any]:
    vs = c.params["vector_store_id"]
    return 200, c.state.long_jobs.create_file_batch(c.config, vs, c.body, c.now)


def _get_file_batch(c: Call) -> tuple[int, Any]:
    p = c.params
    return 200, c.state.long_jobs.get_file_batch(p["vector_store_id"], p["batch_id"], c.now)


def _cancel_file_batch(c: Call) -> tuple[int, Any]:
    p = c.params
    return 200, c.state.long_jobs.cancel_file_batch(p["vector_store_id"], p["batch_id"], c.now)


def _unknown(c: Call) -> tuple[int, Any]:
    method, path = c.params["method"], c.params["path"]
    raise ApiError(404, f"Invalid URL ({method} /v1/{path})")


_T = "/v1/threads/{thread_id}"
_R = _T + "/runs/{run_id}"
_FT = "/v1/fine_tuning/jobs"
_VSFB = "/v1/vector_stores/{vector_store_id}/file_batches"

V1_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec("POST", "/v1/assistants", "post", _create_assistant),
    RouteSpec("GET", "/v1/assistants/{assistant_id}", "get", _get_assistant),
    RouteSpec("POST", "/v1/threads", "post", _create_thread),
    RouteSpec("POST", "/v1/threads/runs", "create", _create_and_run),
    RouteSpec("GET", _T, "get", _get_thread),
    RouteSpec("POST", _T + "/messages", "post", _create_message),
    RouteSpec("GET", _T + "/messages", "get", _list_messages),
    RouteSpec("GET", _T + "/messages/{message_id}", "get", _get_message),
    RouteSpec("POST", _T + "/runs", "create", _create_run),
    RouteSpec("GET", _T + "/runs", "get", _list_runs),
    RouteSpec("GET", _R, "get", _get_run, retrieve=True),
    RouteSpec("POST", _R + "/submit_tool_outputs", "post", _submit_tool_outputs),
    RouteSpec("POST", _R + "/cancel", "post", _cancel_run),
    RouteSpec("POST", "/v1/responses", "create", _create_response, tokens=True),
    RouteSpec("GET", "/v1/responses/{response_id}", "get", _get_response, retrieve=True),
    RouteSpec("POST", "/v1/responses/{response_id}/cancel", "post", _cancel_response),
    RouteSpec("POST", "/v1/files", "post", _upload_file, multipart=True),
    RouteSpec("GET", "/v1/files", "get", _list_files),
    RouteSpec("GET", "/v1/files/{file_id}", "get", _get_file),
    RouteSpec("DELETE", "/v1/files/{file_id}", "post", _delete_file),
    RouteSpec("GET", "/v1/files/{file_id}/content", "get", _file_content),
    RouteSpec("POST", "/v1/batches", "create", _create_batch),
    RouteSpec("GET", "/v1/batches", "get", _list_batches),
    RouteSpec("GET", "/v1/batches/{batch_id}", "get", _get_batch, retrieve=True),
    RouteSpec("POST", "/v1/batches/{batch_id}/cancel", "post", _cancel_batch),
    RouteSpec("POST", _FT, "create", _create_fine_tune),
    RouteSpec("GET", _FT, "get", _list_fine_tunes),
    RouteSpec("GET", _FT + "/{fine_tuning_job_id}", "get", _get_fine_tune, retrieve=True),
    RouteSpec("POST", _FT + "/{fine_tuning_job_id}/cancel", "post", _cancel_fine_tune),
    RouteSpec("POST", _VSFB, "create", _create_file_batch),
    RouteSpec("GET", _VSFB + "/{batch_id}", "get", _get_file_batch, retrieve=True),
    RouteSpec("POST", _VSFB + "/{batch_id}/cancel", "post", _cancel_file_batch),
    # Last: anything else under /v1 is OpenAI's "Invalid URL" 404 (method in the params).
    RouteSpec(None, "/v1/{path:path}", "get", _unknown),
)
