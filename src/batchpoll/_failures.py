"""The one failure vocabulary: how batchpoll reads the SDK's exceptions (retry later, end this
job, or stop everything), whether a failed request can have had an effect on the server
(``Sent``), and the error codes batchpoll itself gives (``ErrorCode``). The runner and the CLI
decide nothing about failures on their own: they read ``classify_failure``.

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
from enum import Enum, StrEnum
from typing import Literal

import httpx2
import openai

from ._headers import parse_retry_after
from ._outcome import ErrorInfo

__all__ = ["ErrorCode", "Failure", "FailureKind", "RateLimit", "Sent", "classify", "http_code"]


class ErrorCode(StrEnum):
    """``ErrorInfo.type`` of the errors batchpoll gives; a status error of the API is
    ``http_code(status)`` (``"http_404"``), a 429 ``rate_limited``."""

    ABORTED = "aborted"  # the poller closed, or the caller cancelled, before the job ended
    INTERNAL = "internal"  # a bug: reported as an outcome, not raised into the other jobs
    TIMED_OUT = "timed_out"  # no result within the job's deadline
    CREATE_UNCERTAIN = "create_uncertain"  # the create (or continuation) may exist: not resent
    UNCERTAIN = "uncertain"  # the runner's name for an item whose create may exist
    UNKNOWN_TOOL = "unknown_tool"
    MAX_ROUNDS = "max_rounds"
    REQUEST_TOO_LARGE = "request_too_large"
    INSUFFICIENT_QUOTA = "insufficient_quota"
    AUTHENTICATION = "authentication"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"  # one request timed out
    CONNECTION = "connection"
    MALFORMED_RESPONSE = "malformed_response"
    BAD_INPUT = "bad_input"  # the runner: a line that cannot run
    TOOL_ERROR = "tool_error"  # a tool handler raised or timed out (reported to the model)
    INCOMPLETE = "incomplete"  # the job ended incomplete (its reason in the message)
    EXPIRED = "expired"  # the run (or a batch's 24 h window) expired before it finished
    FAILED = "failed"  # a long job failed and the server gave no code of its own
    # The batch mode (``--via batch``): a part that could not be sent or read back.
    UNAVAILABLE = "unavailable"  # a list or download kept failing transiently
    UPLOAD_FAILED = "upload_failed"
    CREATE_FAILED = "create_failed"
    BATCH_MISSING = "batch_missing"  # the batch completed without a result for the line


def http_code(status: int) -> str:
    """The ``ErrorInfo.type`` of an API status error."""
    return f"http_{status}"


class Sent(Enum):
    """Whether a failed request can have had an effect on the server (for a create: made the
    job, so that sending it again could make it twice)."""

    NOT_SENT = "not_sent"  # never reached the server, or refused by it (4xx, 429): no effect
    SENT = "sent"  # the server answered with an error of its own (5xx with a body): most likely
    # no effect, but it did arrive
    MAYBE_SENT = "maybe_sent"  # written, and the reply was lost or unreadable: anything exists


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

    @property
    def sent(self) -> Sent:
        if self.error.type == ErrorCode.INTERNAL:  # an exception nobody expected: assume the worst
            return Sent.MAYBE_SENT
        if self.sent_nothing or self.kind is not FailureKind.TRANSIENT:
            return Sent.NOT_SENT  # a 4xx, 401, 429 or "too large" is a refusal: nothing done
        return Sent.SENT if self.answered else Sent.MAYBE_SENT


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
        return Failure(
            FailureKind.FATAL, ErrorInfo(ErrorCode.INSUFFICIENT_QUOTA, message), headers=headers
        )
    tokens = type_ == "tokens" or "tokens" in code or "tokens per min" in text
    if text.startswith("request too large"):
        info = ErrorInfo(ErrorCode.REQUEST_TOO_LARGE, message)
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
        ErrorInfo(ErrorCode.RATE_LIMITED, message),
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
        return Failure(FailureKind.TRANSIENT, ErrorInfo(ErrorCode.TIMEOUT, "the request timed out"))
    if isinstance(exc, openai.APIConnectionError):
        # No connection was ever made (refused, unreachable): the request did not leave.
        refused = isinstance(exc.__cause__, httpx2.ConnectError | httpx2.ConnectTimeout)
        info = ErrorInfo(ErrorCode.CONNECTION, str(exc) or "connection error")
        return Failure(FailureKind.TRANSIENT, info, sent_nothing=refused)
    if isinstance(exc, openai.AuthenticationError):
        info = ErrorInfo(ErrorCode.AUTHENTICATION, _message(exc))
        return Failure(FailureKind.FATAL, info, headers=exc.response.headers)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers
        info = ErrorInfo(http_code(status), _message(exc))
        if status >= 500 or status in (408, 409):
            retry = parse_retry_after(headers)
            answered = _error_field(exc, "message") is not None
            return Failure(FailureKind.TRANSIENT, info, retry, headers=headers, answered=answered)
        return Failure(FailureKind.JOB, info, headers=headers)
    if isinstance(exc, openai.APIResponseValidationError | json.JSONDecodeError):
        return Failure(
            FailureKind.TRANSIENT, ErrorInfo(ErrorCode.MALFORMED_RESPONSE, str(exc)[:200])
        )
    return Failure(
        FailureKind.JOB, ErrorInfo(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"[:500])
    )
