"""The OpenAI-compatible routes under ``/v1``: template, request class, handler.

The template is also the key of ``requests_by_route`` in the stats. Order matters to the
router only for the catch-all, which must come last (unknown URLs get OpenAI's 404).
"""

from __future__ import annotations

from typing import Any

from ._apierror import ApiError
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


def _unknown(c: Call) -> tuple[int, Any]:
    method, path = c.params["method"], c.params["path"]
    raise ApiError(404, f"Invalid URL ({method} /v1/{path})")


_T = "/v1/threads/{thread_id}"
_R = _T + "/runs/{run_id}"

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
    # Last: anything else under /v1 is OpenAI's "Invalid URL" 404 (method in the params).
    RouteSpec(None, "/v1/{path:path}", "get", _unknown),
)
