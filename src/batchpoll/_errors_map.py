"""How batchpoll reads the SDK's exceptions: retry later, end this job, or stop everything."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum

import httpx2
import openai

from ._headers import parse_retry_after
from ._outcome import ErrorInfo

__all__ = ["Failure", "FailureKind", "classify"]


class FailureKind(Enum):
    RATE_LIMITED = "rate_limited"  # 429: pause the budget, retry
    TRANSIENT = "transient"  # 5xx, 408, 409, connection, timeout, malformed body: retry
    FATAL = "fatal"  # 401: the key is wrong; nothing can succeed
    JOB = "job"  # 400, 404, ...: this job cannot go on; the others can


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    error: ErrorInfo
    retry_after_s: float | None = None
    # The request certainly had no effect (429, or the connection was refused): a create that
    # failed so may be sent again; after any other failure it might exist on the server.
    sent_nothing: bool = False


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return exc.message


def classify(exc: BaseException) -> Failure:
    """Map an exception raised by one SDK call to what the scheduler does about it."""
    if isinstance(exc, openai.RateLimitError):
        retry = parse_retry_after(exc.response.headers)
        info = ErrorInfo("rate_limited", _message(exc))
        return Failure(FailureKind.RATE_LIMITED, info, retry, sent_nothing=True)
    if isinstance(exc, openai.APITimeoutError):
        return Failure(FailureKind.TRANSIENT, ErrorInfo("timeout", "the request timed out"))
    if isinstance(exc, openai.APIConnectionError):
        # No connection was ever made (refused, unreachable): the request did not leave.
        refused = isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)
        info = ErrorInfo("connection", str(exc) or "connection error")
        return Failure(FailureKind.TRANSIENT, info, sent_nothing=refused)
    if isinstance(exc, openai.AuthenticationError):
        return Failure(FailureKind.FATAL, ErrorInfo("authentication", _message(exc)))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        info = ErrorInfo(f"http_{status}", _message(exc))
        if status >= 500 or status in (408, 409):
            return Failure(FailureKind.TRANSIENT, info, parse_retry_after(exc.response.headers))
        return Failure(FailureKind.JOB, info)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return Failure(FailureKind.TRANSIENT, ErrorInfo("malformed_response", str(exc)[:200]))
    return Failure(FailureKind.JOB, ErrorInfo("internal", f"{type(exc).__name__}: {exc}"[:500]))
