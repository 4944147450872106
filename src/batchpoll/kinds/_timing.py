"""``KindTiming``: how a kind of long job is checked, in place of the poller's own settings.

A background response takes seconds, a batch minutes to hours (within its 24 h window), a
fine-tuning job tens of minutes. ``PollSettings`` is tuned for the first; a kind that carries
a ``timing`` attribute is checked with these values instead: the learned schedule starts from
its prior (a lognormal of median ``prior_median_s``), a second of detection lag is worth
``lag_weight`` checks (by default ``20 / prior_median_s``: a lag of 5 % of the typical
duration costs one check), and checks are kept ``min_interval_s``..``max_interval_s`` apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._errors import ConfigurationError
from .._policy import PollSettings

__all__ = ["KindTiming"]


@dataclass(frozen=True, slots=True)
class KindTiming:
    prior_median_s: float
    prior_sigma: float = 1.0
    lag_weight: float | None = None  # None: 20 / prior_median_s
    min_interval_s: float = 1.0
    max_interval_s: float = 1800.0
    timeout_s: float | None = None  # None: no deadline of ours (the server's window rules)

    def __post_init__(self) -> None:
        if not self.prior_median_s > 0 or not self.prior_sigma > 0:
            raise ConfigurationError("prior_median_s and prior_sigma must be > 0")
        if self.lag_weight is not None and not self.lag_weight > 0:
            raise ConfigurationError("lag_weight must be > 0 or None")
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ConfigurationError("need 0 < min_interval_s <= max_interval_s")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigurationError("timeout_s must be > 0 or None")

    @property
    def weight(self) -> float:
        return self.lag_weight if self.lag_weight is not None else 20.0 / self.prior_median_s

    def poll(self, base: PollSettings) -> PollSettings:
        """``base`` with this kind's timing (the rest, e.g. retries and jitter, kept)."""
        return dataclasses.replace(
            base,
            lag_weight=self.weight,
            busy_lag_weight=min(base.busy_lag_weight, self.weight),
            first_check_s=self.prior_median_s / 4,
            min_interval_s=self.min_interval_s,
            max_interval_s=self.max_interval_s,
            timeout_s=self.timeout_s,
        )
