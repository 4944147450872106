"""Go's ``time.Duration.String()``: OpenAI writes ``x-ratelimit-reset-*`` headers this way."""

from __future__ import annotations

import math

__all__ = ["format_go_duration"]

_NS_PER_S = 1_000_000_000


def format_go_duration(seconds: float) -> str:
    """Format ``seconds`` exactly as Go formats a ``time.Duration`` (rounded to 1 ns).

    ``0.012`` → ``"12ms"``, ``1`` → ``"1s"``, ``360`` → ``"6m0s"``, ``252.172`` →
    ``"4m12.172s"``, ``0`` → ``"0s"``, ``3600`` → ``"1h0m0s"``, ``1.5e-6`` → ``"1.5µs"``.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"cannot format a non-finite duration: {seconds}")
    ns = round(seconds * _NS_PER_S)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < _NS_PER_S:
        # Below one second Go picks the largest unit that keeps an integer part.
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return sign + _fraction(ns, size) + unit
    hours, rest = divmod(ns, 3600 * _NS_PER_S)
    minutes, rest = divmod(rest, 60 * _NS_PER_S)
    text = _fraction(rest, _NS_PER_S) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _fraction(value: int, unit: int) -> str:
    """``value / unit`` with the fractional digits Go keeps (trailing zeros dropped)."""
    whole, frac = divmod(value, unit)
    if frac == 0:
        return str(whole)
    width = len(str(unit)) - 1
    return f"{whole}.{str(frac).rjust(width, '0').rstrip('0')}"
