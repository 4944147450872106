"""An OpenAI-compatible mock server for rehearsing bulk jobs (see docs/mock.md).

Runs (Assistants API) and background responses (Responses API) evolve over virtual or real
time from per-job random draws; rate limits, faults and latency are injected as configured;
``GET /_mock/stats`` reports what a client cost. Needs the ``mock`` extra (starlette, uvicorn).
"""

from __future__ import annotations

from ._app import create_app
from ._client import asgi_client
from ._config import FaultKind, FaultWindow, HeaderSemantics, MockConfig, RequestClass
from ._goduration import format_go_duration
from ._reply import expected_reply, tool_arguments, tool_output_for
from ._server import MockServer, running_server
from ._state import Clock, MockState
from ._tokens import estimate_request_tokens

__all__ = [
    "Clock",
    "FaultKind",
    "FaultWindow",
    "HeaderSemantics",
    "MockConfig",
    "MockServer",
    "MockState",
    "RequestClass",
    "asgi_client",
    "create_app",
    "estimate_request_tokens",
    "expected_reply",
    "format_go_duration",
    "running_server",
    "tool_arguments",
    "tool_output_for",
]
