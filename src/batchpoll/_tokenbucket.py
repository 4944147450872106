"""One model's token bucket: pure rules, time passed in, with the argument that they are safe.

**Shape.** OpenAI documents TPM per minute, but its ``x-ratelimit-reset-tokens`` (time until the
bucket is full again) shows a bucket refilled continuously: capacity = the limit, refill = the
limit / 60 per second. One request can cost thousands of tokens (12,000 characters ≈ 3,000 plus
``max_output_tokens``), so the request budget's per-second spreading cannot be the rule here.
Ours has the same shape: capacity ``C = limit × headroom``, rate ``r = C / 60``.

**Start.** How full the server's bucket is at start is unknown. Ours starts with ``initial_s``
seconds of refill, and the first request may go at once even if it is larger (the *probe*);
its reply's ``x-ratelimit-remaining-tokens`` then sets the level. A server that starts full is
used fully from that reply on; one that starts emptier costs a 429 or two.

**The rules.** ``L`` is our level, ``O`` the tokens of grants not yet answered (settled or
refunded). A grant of ``c`` needs ``L ≥ c``; then ``L -= c``, ``O += c``. Refill is capped so that
always ``L ≤ C − O``. A refund (the request was certainly never counted) gives ``c`` back to
``L``. A token 429 sets ``L := min(L, 0)``. A reply to grant ``g`` saying ``remaining = R`` sets
``L := min(R − H, C − O)``, up or down, where ``H`` is the tokens of every other grant that the
server may not have counted yet when it counted ``g``: those still open, plus those answered
since ``g`` was sent (one answered before ``g`` left was counted before ``g``; a grant may wait
for its request token between its grant and its send).
Headers not tied to a grant (a check's reply) only lower: ``L := min(L, R − O)``.
``x-ratelimit-limit-tokens`` sets the limit, lowered or raised, never above the configured one.

**Guarantee.** Suppose the server's bucket is as described (capacity ``C_s ≥ C``, refill
``C_s / 60 ≥ r``, our requests its only ones), it charges what we estimated, its headers are
truthful, and at start it holds at least our initial level plus the probe. Let ``P`` be the
tokens of our grants it has not counted yet and ``S = level_server − P``. Claim: always
``S ≥ max(L, 0)``. Then when the server counts a grant ``g``, its level is ``S + P ≥ P ≥ c_g``:
the request fits, and never draws a 429. Every event keeps the claim:

- grant: ``L ≥ c`` before; ``S`` and ``L`` both drop by ``c``, so ``S − c ≥ L − c ≥ 0``;
- the server counts ``g``: its level and ``P`` both drop by ``c_g``; ``S`` is unchanged;
- refund: ``P`` drops by ``c`` (never counted), ``S`` rises by ``c``, and so does ``L``;
- refill: while the server's bucket is below ``C_s``, ``S`` grows at ``C_s / 60 ≥ r``, no
  slower than ``L``; once it is full, ``S = C_s − P ≥ C − O ≥ L`` (``P ≤ O``: a grant the server
  has not counted is not answered);
- reply ``R`` to ``g``, counted at ``t_c``: since ``t_c`` the server's level only refilled, less
  our requests counted after ``t_c``; those and ``P`` are grants other than ``g``, uncounted at
  ``t_c``, so not answered before ``g`` was sent: all in ``H``, and ``S ≥ R − H``;
- everything else only lowers ``L`` (a 429, a lower limit, unattached headers, the cap).

An error in the estimate breaks it by that error; the probe costs at most its own 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._headers import RateLimitInfo

__all__ = ["ModelBucket", "ModelTokenStats"]

_EPS = 1e-6  # tokens: float rounding of refill must not delay a grant by a clock tick


@dataclass(frozen=True, slots=True)
class ModelTokenStats:
    model: str
    limit_tpm: float  # the model's whole limit: configured, or lower as learned
    tpm: float  # what the budget spends per minute (limit × headroom)
    level: float  # tokens that may be granted now
    outstanding: int  # granted, not yet answered
    reserved: int  # granted in total, less refunds
    refunded: int
    spent: int  # real tokens, from the replies' usage
    grants: int
    waiting: int
    rate_limited: int  # token 429s reported
    too_large: int  # requests refused as larger than the limit
    usage_ratio: float  # real / estimated; applied only where no token header was seen
    informed: bool  # the server sent token headers for this model
    paused_s: float


class ModelBucket:
    """The bucket of one model, and its counts. Methods take ``now`` (s) where time matters."""

    __slots__ = (
        "answered", "capacity", "configured", "granted", "headroom", "informed", "level",
        "limit", "open_n", "open_tokens", "paused_until", "probed", "rate_limited",
        "refunded", "reserved", "spent", "too_large", "updated",
    )  # fmt: skip

    def __init__(
        self, limit: float, now: float, *, headroom: float = 1.0, initial_s: float = 2.0,
        probe: bool = True,
    ) -> None:  # fmt: skip
        self.configured = limit  # never raised above
        self.headroom = headroom
        self.limit = limit  # the whole limit: larger requests never fit
        self.capacity = limit * headroom  # C
        self.level = min(self.capacity, self.rate * initial_s)  # L
        self.updated = now
        self.open_tokens = 0  # O
        self.open_n = 0
        self.answered = 0  # tokens of every grant answered so far (for H)
        self.paused_until = 0.0
        self.informed = False  # the server sent token headers
        self.probed = not probe
        self.granted = self.reserved = self.refunded = self.spent = 0
        self.rate_limited = self.too_large = 0

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return self.capacity / 60.0

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.level += self.rate * (now - self.updated)
            self.updated = now
        self.level = min(self.level, self.capacity - self.open_tokens)

    # --- granting -------------------------------------------------------------------------

    def fits(self, tokens: int) -> bool:
        """Whether a grant of ``tokens`` may go now (call ``refill`` first)."""
        if not self.probed and not self.informed and self.open_n == 0:
            return True
        if tokens > self.capacity:  # within the limit but over our share (headroom < 1)
            return self.open_n == 0 and self.level >= self.capacity - _EPS
        return self.level >= tokens - _EPS

    def fits_at(self, tokens: int, now: float) -> float:
        """When ``tokens`` fit by refill alone (inf: only a closing grant can make room)."""
        need = min(float(tokens), self.capacity)
        if tokens > self.capacity and self.open_n:
            return math.inf
        if need > self.capacity - self.open_tokens + _EPS:
            return math.inf
        return now + max(0.0, (need - self.level) / self.rate)

    def grant(self, tokens: int) -> int:
        """Take ``tokens``; returns ``answered`` as of now, for ``close``."""
        self.probed = True
        self.level -= tokens
        self.open_tokens += tokens
        self.open_n += 1
        self.granted += 1
        self.reserved += tokens
        return self.answered

    def close(
        self, tokens: int, answered_before: int, now: float, *, counted: bool, used: int | None
    ) -> int:
        """A grant is answered (``counted``; ``used``: its real tokens, if known) or refunded.
        Returns ``H`` less the open grants: the tokens of others answered since its grant."""
        self.refill(now)
        others = self.answered - answered_before
        self.open_tokens -= tokens
        self.open_n -= 1
        if counted:
            self.answered += tokens
            self.spent += used if used is not None and used >= 0 else 0
        else:
            self.level += tokens
            self.reserved -= tokens
            self.refunded += tokens
        return others

    # --- learning -------------------------------------------------------------------------

    def learn(self, info: RateLimitInfo, now: float, others: int | None) -> bool:
        """Apply one reply's token headers; ``others`` as ``close`` returned it for the reply's
        grant, None for a reply that belongs to no grant. True when the limit was lowered."""
        self.refill(now)
        self.informed = True
        lowered = False
        if info.limit_tokens is not None:
            lowered = self.set_limit(min(float(info.limit_tokens), self.configured))
        remaining = info.remaining_tokens
        if remaining is not None and others is not None:
            held = self.open_tokens + others  # H
            self.level = min(remaining - held, self.capacity - self.open_tokens)
        elif remaining is not None:
            self.level = min(self.level, remaining - self.open_tokens)
        elif info.reset_tokens_s is not None:
            # No "remaining": the time to full says how empty a one-minute bucket is. Lower only.
            full = math.floor(self.limit * max(0.0, 1.0 - info.reset_tokens_s / 60.0))
            self.level = min(self.level, full - self.open_tokens)
        return lowered

    def set_limit(self, limit: float) -> bool:
        """A new whole limit; True when it is lower than before."""
        lowered = limit < self.limit
        self.limit = limit
        self.capacity = limit * self.headroom
        self.level = min(self.level, self.capacity - self.open_tokens)
        return lowered

    def throttle(self, now: float, pause_s: float) -> None:
        """A token 429: empty, and no grant before ``now + pause_s``."""
        self.refill(now)
        self.level = min(self.level, 0.0)
        self.paused_until = max(self.paused_until, now + pause_s)
        self.probed = True
        self.rate_limited += 1

    def stats(self, model: str, now: float, *, waiting: int, ratio: float) -> ModelTokenStats:
        self.refill(max(now, self.updated))
        return ModelTokenStats(
            model=model,
            limit_tpm=self.limit,
            tpm=self.capacity,
            level=self.level,
            outstanding=self.open_tokens,
            reserved=self.reserved,
            refunded=self.refunded,
            spent=self.spent,
            grants=self.granted,
            waiting=waiting,
            rate_limited=self.rate_limited,
            too_large=self.too_large,
            usage_ratio=ratio,
            informed=self.informed,
            paused_s=max(0.0, self.paused_until - self.updated),
        )
