"""How batchpoll reads the SDK's exceptions: retry later, end this job, or stop everything.

A 429 is not one thing. OpenAI answers three different situations with it, told apart only by
the error body (``type`` / ``code`` / ``message``):

- a rate limit on requests or on tokens: retry after the pause, and say *which* limit, so the
  engine pauses the right budget (a token 429 must not stop checks, which cost no tokens);
- "Request too large" (type ``tokens``): the request alone exceeds the model's whole TPM limit;
  no wait makes it fit, so it ends the job (``FailureKind.JOB``), never a retry loop;
- ``insufficient_quota``: the account is out of credit; nothing will succeed until a human
  acts, so it stops the run like a rejected key (``FailureKind.FATAL``).

Every status error also carries the response's headers: a 429 has ``x-ratelimit-*`` too, and
the budgets learn from them as from a success.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

import httpx2
import openai

from ._headers import parse_retry_after
from ._outcome import ErrorInfo

__all__ = ["Failure", "FailureKind", "RateLimit", "classify"]


class FailureKind(Enum):
    RATE_LIMITED = "rate_limited"  # 429: pause the budget named by ``limit``, retry
    TRANSIENT = "transient"  # 5xx, 408, 409, connection, timeout, malformed body: retry
    FATAL = "fatal"  # 401, or a 429 insufficient_quota: nothing can succeed
    JOB = "job"  # 400, 404, a 429 "Request too large", ...: this job cannot go on; others can


RateLimit = Literal["requests", "tokens"]


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    error: ErrorInfo
    retry_after_s: float | None = None
    # The request certainly had no effect (429, or the connection was refused): a create that
    # failed so may be sent again; after any other failure it might exist on the server.
    sent_nothing: bool = False
    # RATE_LIMITED only: which limit the server says was hit (None: the body does not say;
    # treat as requests).
    limit: RateLimit | None = None
    # The response's headers when there was a response (any status error): 429s carry
    # x-ratelimit-* too, and the budgets learn from them.
    headers: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    # The server answered with an error of its own: a status and an OpenAI error body (a 5xx
    # "The server had an error ..."). It most likely created nothing, unlike a lost reply (a
    # timeout or a reset after the request was written), after which anything may exist.
    answered: bool = False


def _error_field(exc: openai.APIStatusError, name: str) -> str | None:
    """A string field of the error body (the SDK hands over ``body["error"]``, or the whole
    body when it has no ``error`` key)."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get(name), str):
            return str(inner[name])
    return None


def _message(exc: openai.APIStatusError) -> str:
    message = _error_field(exc, "message")
    return message if message is not None else exc.message


def _rate_limit_failure(exc: openai.RateLimitError) -> Failure:
    headers = exc.response.headers
    message = _message(exc)
    code = (_error_field(exc, "code") or "").lower()
    type_ = (_error_field(exc, "type") or "").lower()
    text = message.lower()
    if code == "insufficient_quota" or type_ == "insufficient_quota":
        return Failure(FailureKind.FATAL, ErrorInfo("insufficient_quota", message), headers=headers)
    tokens = type_ == "tokens" or "tokens" in code or "tokens per min" in text
    if text.startswith("request too large"):
        info = ErrorInfo("request_too_large", message)
        return Failure(FailureKind.JOB, info, sent_nothing=True, limit="tokens", headers=headers)
    limit: RateLimit | None
    if tokens:
        limit = "tokens"
    elif type_ == "requests" or "requests" in code or "requests per min" in text:
        limit = "requests"
    else:
        limit = None
    return Failure(
        FailureKind.RATE_LIMITED,
        ErrorInfo("rate_limited", message),
        parse_retry_after(headers),
        sent_nothing=True,
        limit=limit,
        headers=headers,
    )


def classify(exc: BaseException) -> Failure:
    """Map an exception raised by one SDK call to what the scheduler does about it."""
    if isinstance(exc, openai.RateLimitError):
        return _rate_limit_failure(exc)
    if isinstance(exc, openai.APITimeoutError):
        return Failure(FailureKind.TRANSIENT, ErrorInfo("timeout", "the request timed out"))
    if isinstance(exc, openai.APIConnectionError):
        # No connection was ever made (refused, unreachable): the request did not leave.
        refused = isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)
        info = ErrorInfo("connection", str(exc) or "connection error")
        return Failure(FailureKind.TRANSIENT, info, sent_nothing=refused)
    if isinstance(exc, openai.AuthenticationError):
        info = ErrorInfo("authentication", _message(exc))
        return Failure(FailureKind.FATAL, info, headers=exc.response.headers)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers
        info = ErrorInfo(f"http_{status}", _message(exc))
        if status >= 500 or status in (408, 409):
            retry = parse_retry_after(headers)
            answered = _error_field(exc, "message") is not None
            return Failure(FailureKind.TRANSIENT, info, retry, headers=headers, answered=answered)
        return Failure(FailureKind.JOB, info, headers=headers)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return Failure(FailureKind.TRANSIENT, ErrorInfo("malformed_response", str(exc)[:200]))
    return Failure(FailureKind.JOB, ErrorInfo("internal", f"{type(exc).__name__}: {exc}"[:500]))
