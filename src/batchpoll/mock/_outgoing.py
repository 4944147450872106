"""What goes on the wire for a ``/v1`` request: the body, OpenAI's headers, a delay or a drop."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ._faults import FaultDraw
from ._goduration import format_go_duration
from ._limit_errors import ceil_ms
from ._limiter import Decision
from ._tokens import TokenDecision

__all__ = ["Outgoing", "RawBody", "build_outgoing", "rate_limit_headers"]


@dataclass(frozen=True, slots=True)
class Outgoing:
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    delay_s: float = 0.0
    disconnect: bool = False


@dataclass(frozen=True, slots=True)
class RawBody:
    """A reply that is not JSON (a file's content), sent as these bytes."""

    data: bytes
    content_type: str = "application/octet-stream"


def build_outgoing(
    status: int,
    body: Any,
    request_id: str,
    extra: list[tuple[str, str]],
    *,
    delay_s: float | None = None,
    fault: FaultDraw | None = None,
) -> Outgoing:
    """The reply, with a fault applied: a malformed body is cut mid-object, a disconnect is
    sent as such by the HTTP layer."""
    content_type = "application/json"
    if isinstance(body, RawBody):
        payload, content_type = body.data, body.content_type
    else:
        payload = json.dumps(body, separators=(",", ":")).encode()
    disconnect = fault is not None and fault.disconnect
    if fault is not None and fault.malformed and not disconnect:
        payload = payload[: max(1, len(payload) // 2)]  # cut mid-object: not valid JSON
    if delay_s is None:
        delay_s = fault.delay_s if fault is not None else 0.0
    headers = [
        ("content-type", content_type),
        ("x-request-id", request_id),
        ("openai-version", "2020-10-01"),
        ("openai-processing-ms", str(round(delay_s * 1000))),
        *extra,
    ]
    return Outgoing(status, payload, headers, delay_s=delay_s, disconnect=disconnect)


def rate_limit_headers(
    decision: Decision | None, tokens: TokenDecision | None
) -> list[tuple[str, str]]:
    """The six ``x-ratelimit-*`` headers (none for a reply that has no limiter view)."""
    headers: list[tuple[str, str]] = []
    if decision is not None:
        headers += [
            ("x-ratelimit-limit-requests", str(decision.limit_rpm)),
            ("x-ratelimit-remaining-requests", str(decision.remaining)),
            ("x-ratelimit-reset-requests", _go(decision.reset_s)),
        ]
    if tokens is not None:
        headers += [
            ("x-ratelimit-limit-tokens", str(tokens.limit)),
            ("x-ratelimit-remaining-tokens", str(tokens.remaining)),
            ("x-ratelimit-reset-tokens", _go(tokens.reset_s)),
        ]
    return headers


def _go(seconds: float) -> str:
    return format_go_duration(ceil_ms(seconds) / 1000)
