"""Which transport fault, if any, hits one request, and how late its reply is.

One seeded random stream for the whole server, with a fixed number of draws per request, so a
given seed and request order always inject the same faults regardless of which rates are on.
Faults are drawn independently; when several hit, a 5xx wins over a disconnect, which wins over
a malformed body; "slow" only adds delay, so a slow reply can also be malformed or dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ._config import MockConfig

__all__ = ["FaultDraw", "FaultInjector"]

_ERROR_STATUSES = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class FaultDraw:
    error_status: int | None = None
    disconnect: bool = False
    slow: bool = False
    malformed: bool = False
    delay_s: float = 0.0

    @property
    def kinds(self) -> list[str]:
        """Names of the injected faults, for the stats."""
        names: list[str] = []
        if self.error_status is not None:
            names.append(str(self.error_status))
        if self.disconnect:
            names.append("disconnect")
        if self.slow:
            names.append("slow")
        if self.malformed:
            names.append("malformed")
        return names


class FaultInjector:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"{seed}/faults")

    def draw(self, config: MockConfig, elapsed_s: float, request_class: str) -> FaultDraw:
        rng = self._rng
        u_error, u_status, u_disconnect, u_slow, u_malformed, u_jitter = (
            rng.random() for _ in range(6)
        )

        def rate(kind: str, base: float) -> float:
            windows = [
                w.rate
                for w in config.fault_windows
                if w.kind == kind and w.active(elapsed_s, request_class)
            ]
            return max([base, *windows])

        latency_s = (config.latency_ms + u_jitter * config.latency_jitter_ms) / 1000
        if u_error < rate("error", config.error_rate):
            status = _ERROR_STATUSES[int(u_status * len(_ERROR_STATUSES))]
            return FaultDraw(error_status=status, delay_s=latency_s)
        slow = u_slow < rate("slow", config.slow_rate)
        return FaultDraw(
            disconnect=u_disconnect < rate("disconnect", config.disconnect_rate),
            slow=slow,
            malformed=u_malformed < rate("malformed", config.malformed_rate),
            delay_s=max(latency_s, config.slow_ms / 1000) if slow else latency_s,
        )
