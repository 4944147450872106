"""Tokens per minute (TPM): what a Responses request costs, and the per-model token bucket.

**Cost** (:func:`estimate_request_tokens`, the one place it is computed; clients that want to
budget tokens exactly as the mock charges them compute the same): ``ceil(C / 4)`` plus
``max_output_tokens`` when given, where ``C`` counts the characters (Python ``len``, code
points) of

- ``input``: the string, or for a list the text of every message item (``content`` string or
  the ``text`` of its parts) and the ``output`` of every ``function_call_output`` item;
- ``instructions``;
- ``tools``: ``json.dumps(tools, separators=(",", ":"), ensure_ascii=False)``, if any.

OpenAI estimates a request's charge the same way before running it (about 4 characters per
token, plus the output it may write). Only ``POST /v1/responses`` (creates and continuations)
costs tokens; retrieves, cancels and every other route cost none.

**Bucket**: per model, capacity ``tpm`` (``MockConfig.tpm_for(model)``), refilled continuously
at ``tpm / 60`` per second, and it **starts full**: a fresh account's
``x-ratelimit-remaining-tokens`` equals its limit on OpenAI too, so a client that learns the
limit from the headers sees the same numbers here. A request is accepted iff its cost fits in
what the bucket holds; a rejected one consumes nothing. A cost above the whole capacity can
never fit: "Request too large" (not worth retrying). The bucket is ``_bucket``'s, in exact
integers, so waits and boundaries are exact to the microsecond.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._bucket import TICKS_PER_S, ContinuousBucket
from ._limiter import to_ticks

__all__ = [
    "UNLIMITED_TPM",
    "TokenDecision",
    "TokenLimiter",
    "estimate_input_tokens",
    "estimate_request_tokens",
    "input_text_chars",
]

# Advertised in the headers when a model has no token limit: plenty, nothing used.
UNLIMITED_TPM = 1_000_000_000


def input_text_chars(raw_input: Any) -> int:
    """Characters of the text an ``input`` carries (see the module docstring)."""
    if isinstance(raw_input, str):
        return len(raw_input)
    if not isinstance(raw_input, list):
        return 0
    chars = 0
    for item in raw_input:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "function_call_output":
            chars += _text_chars(item.get("output"))
        elif item.get("type", "message") == "message":
            chars += _text_chars(item.get("content"))
    return chars


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(
            len(part["text"])
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return 0


def estimate_request_tokens(body: Mapping[str, Any]) -> int:
    """Tokens a ``POST /v1/responses`` body is charged: ``ceil(chars / 4) + max_output_tokens``."""
    tokens = estimate_input_tokens(body)
    max_output = body.get("max_output_tokens")
    if isinstance(max_output, int) and not isinstance(max_output, bool) and max_output > 0:
        tokens += max_output
    return tokens


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """``ceil(chars / 4)``: the input part of the charge, also the response's ``input_tokens``."""
    chars = input_text_chars(body.get("input"))
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        chars += len(instructions)
    tools = body.get("tools")
    if tools:
        chars += len(json.dumps(tools, separators=(",", ":"), ensure_ascii=False))
    return math.ceil(chars / 4)


@dataclass(frozen=True, slots=True)
class TokenDecision:
    """A bucket's answer, with what the ``-tokens`` headers and a 429 body report."""

    accepted: bool
    limit: int
    remaining: int  # whole tokens left after this request (if accepted)
    reset_s: float  # until the bucket is full again
    wait_s: float = 0.0  # a rejection: until the request would fit
    used: int = 0  # limit - remaining, before the request
    requested: int = 0
    too_large: bool = False


def _view(bucket: ContinuousBucket, accepted: bool, requested: int = 0) -> TokenDecision:
    remaining = bucket.remaining()
    return TokenDecision(
        accepted=accepted,
        limit=bucket.capacity,
        remaining=remaining,
        reset_s=bucket.reset_ticks() / TICKS_PER_S,
        wait_s=0.0 if accepted else bucket.wait_ticks(requested) / TICKS_PER_S,
        used=bucket.capacity - remaining,
        requested=requested,
        too_large=not accepted and requested > bucket.capacity,
    )


class TokenLimiter:
    """One bucket per model; limits are passed in on every call (they change live)."""

    def __init__(self) -> None:
        self._buckets: dict[str, ContinuousBucket] = {}

    def _bucket(self, now: int, model: str, limit: int) -> ContinuousBucket:
        bucket = self._buckets.get(model)
        if bucket is None:
            bucket = self._buckets[model] = ContinuousBucket(limit)
        bucket.refill(now, limit)
        return bucket

    def check(self, now_s: float, model: str, cost: int, limit: int | None) -> TokenDecision:
        """Would ``cost`` tokens fit now? Consumes nothing (see :meth:`consume`)."""
        if limit is None:
            return _unlimited()
        bucket = self._bucket(to_ticks(now_s), model, limit)
        fits = cost <= limit and bucket.fits(cost)
        return _view(bucket, accepted=True) if fits else _view(bucket, False, cost)

    def consume(self, now_s: float, model: str, cost: int, limit: int | None) -> TokenDecision:
        """Take ``cost`` tokens (after :meth:`check` said they fit); the headers' view after."""
        if limit is None:
            return _unlimited()
        bucket = self._bucket(to_ticks(now_s), model, limit)
        bucket.take(cost)
        return _view(bucket, accepted=True)

    def peek(self, now_s: float, model: str, limit: int | None) -> TokenDecision:
        return self.check(now_s, model, 0, limit)


def _unlimited() -> TokenDecision:
    return TokenDecision(True, UNLIMITED_TPM, UNLIMITED_TPM, 0.0)
