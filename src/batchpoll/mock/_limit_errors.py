"""The 429 replies, in OpenAI's wording: per limit kind (RPM, RPD, TPM) and model, and the
out-of-quota one (``insufficient_quota``).

Clients parse these texts (``Limit (\\d+), Used (\\d+), Requested (\\d+)``, "Please try again
in 600ms"), so the shape follows OpenAI's messages word for word; only the organization is
the mock's (``org-mock``).
"""

from __future__ import annotations

from typing import Any

from ._apierror import error_body
from ._goduration import format_go_duration
from ._limiter import Decision
from ._tokens import TokenDecision

__all__ = [
    "QUOTA_MESSAGE",
    "ceil_ms",
    "insufficient_quota_429",
    "request_too_large_429",
    "requests_429",
    "tokens_429",
]

_ORG = "org-mock"
_VISIT = "Visit https://platform.openai.com/account/rate-limits to learn more."
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def ceil_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up (the limiters' times are whole microseconds)."""
    return -(-round(seconds * 1_000_000) // 1000)


def _retry_headers(wait_s: float) -> tuple[int, list[tuple[str, str]]]:
    wait_ms = max(1, ceil_ms(wait_s))
    return wait_ms, [("retry-after", str(-(-wait_ms // 1000))), ("retry-after-ms", str(wait_ms))]


def requests_429(decision: Decision, model: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Over the request limit. ``Limit``/``Used`` are the binding budget's per-minute figures
    (what ``x-ratelimit-limit-requests`` reports); when the 1 s quantum binds, Used can be far
    below Limit, as on OpenAI, where 600 RPM may be enforced as 10 per second. Over the
    requests per day: the RPD and what its bucket lacks."""
    wait_ms, headers = _retry_headers(decision.wait_s)
    kind = "requests per day (RPD)" if decision.window == "1d" else "requests per min (RPM)"
    message = (
        f"Rate limit reached for {model} in organization {_ORG} on {kind}: "
        f"Limit {decision.binding_limit}, Used {decision.binding_used}, Requested 1. "
        f"Please try again in {format_go_duration(wait_ms / 1000)}. {_VISIT}"
    )
    if decision.budget not in ("", "all", "day"):
        message += f" (mock budget: {decision.budget} requests)"
    return error_body(message, "requests", code="rate_limit_exceeded"), headers


def tokens_429(decision: TokenDecision, model: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Over the token limit: the bucket holds less than the request's estimated cost."""
    wait_ms, headers = _retry_headers(decision.wait_s)
    message = (
        f"Rate limit reached for {model} in organization {_ORG} on tokens per min (TPM): "
        f"Limit {decision.limit}, Used {decision.used}, Requested {decision.requested}. "
        f"Please try again in {format_go_duration(wait_ms / 1000)}. {_VISIT}"
    )
    return error_body(message, "tokens", code="rate_limit_exceeded"), headers


def request_too_large_429(decision: TokenDecision, model: str) -> dict[str, Any]:
    """A cost above the whole limit: it can never fit, so no retry-after is sent."""
    message = (
        f"Request too large for {model} in organization {_ORG} on tokens per min (TPM): "
        f"Limit {decision.limit}, Requested {decision.requested}. The input or output tokens "
        f"must be reduced in order to run successfully. {_VISIT}"
    )
    return error_body(message, "tokens", code="rate_limit_exceeded")


def insufficient_quota_429() -> dict[str, Any]:
    """Out of quota (``--quota-exhausted-after``): not retryable, so no retry-after."""
    return error_body(QUOTA_MESSAGE, "insufficient_quota", code="insufficient_quota")
