"""What the server's response headers say: waits, poll hints, and rate-limit counters.

Every reader here is a pure function of a header mapping (``httpx2.Headers`` is one; any
``Mapping[str, str]`` with lower-case names works), so the budgets, the failure classifier and
the scheduler all read headers the same way, and none of them imports the others to do it.

The rule for odd values is the same everywhere: a header that is missing, unparsable, negative
or not finite is *absent* (None), never an exception and never a guess. Azure has sent ``-1``
for counters it does not track; a limit of ``0`` says nothing either (no account has a zero
limit and still answers), so limits must be positive, while ``remaining`` may be 0 (that one is
information: the bucket is empty).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "RateLimitInfo",
    "parse_go_duration",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "poll_after_hint_s",
]

_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``12ms``, ``1s``, ``6m0s``, ``4m12.172s``), else None."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0 if text == "0" else None
    pos, total = 0, 0.0
    for match in _GO_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms`` first, then ``retry-after``."""
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from OpenAI; the budget's own pause applies instead
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def poll_after_hint_s(headers: Mapping[str, str]) -> float | None:
    """The server's ``openai-poll-after-ms`` in seconds, or None."""
    value = headers.get("openai-poll-after-ms")
    if value is None:
        return None
    try:
        seconds = float(value) / 1000.0
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """The ``x-ratelimit-*`` counters of one response; None where absent or nonsense.

    ``reset_*_s`` is how long until the bucket is full again (OpenAI refills continuously).
    """

    limit_requests: int | None
    remaining_requests: int | None
    reset_requests_s: float | None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens_s: float | None = None

    @property
    def has_tokens(self) -> bool:
        """Whether any of the ``-tokens`` trio is present."""
        return not (
            self.limit_tokens is None
            and self.remaining_tokens is None
            and self.reset_tokens_s is None
        )


def _count(value: str | None, *, positive: bool) -> int | None:
    """An integer counter: ``> 0`` for limits, ``>= 0`` for what remains; else None."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        return None
    if number < 0 or (positive and number == 0):
        return None
    return number


def _duration(value: str | None) -> float | None:
    return parse_go_duration(value) if value is not None else None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The ``x-ratelimit-*-requests`` and ``-tokens`` trios, or None when the response
    carries none of the six (or only nonsense in them)."""
    get = headers.get
    info = RateLimitInfo(
        limit_requests=_count(get("x-ratelimit-limit-requests"), positive=True),
        remaining_requests=_count(get("x-ratelimit-remaining-requests"), positive=False),
        reset_requests_s=_duration(get("x-ratelimit-reset-requests")),
        limit_tokens=_count(get("x-ratelimit-limit-tokens"), positive=True),
        remaining_tokens=_count(get("x-ratelimit-remaining-tokens"), positive=False),
        reset_tokens_s=_duration(get("x-ratelimit-reset-tokens")),
    )
    if (
        info.limit_requests is None
        and info.remaining_requests is None
        and info.reset_requests_s is None
        and not info.has_tokens
    ):
        return None
    return info
