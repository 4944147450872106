"""Settings of a run through the Batch API (``batchpoll run --via batch``)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import ConfigurationError

__all__ = ["BATCH_MAX_BYTES", "BATCH_MAX_LINES", "BatchSettings"]

#: OpenAI's limits for one batch input file.
BATCH_MAX_LINES = 50_000
BATCH_MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """``max_lines`` / ``max_bytes``: at most this much per batch input file (OpenAI's limits
    by default; lower ``max_lines`` for smaller parts that finish sooner). ``resubmit_expired``:
    the lines an expired or cancelled batch did not run go into one new batch (once), else
    they are reported ``expired`` / ``cancelled``. ``expect_s``: the typical duration of a
    batch, the prior of its learned check schedule (a batch is checked a few times over its
    life, not every few seconds)."""

    max_lines: int = BATCH_MAX_LINES
    max_bytes: int = BATCH_MAX_BYTES
    resubmit_expired: bool = True
    expect_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_lines <= BATCH_MAX_LINES:
            raise ConfigurationError(f"batch max lines must be within 1..{BATCH_MAX_LINES}")
        if not 1 <= self.max_bytes <= BATCH_MAX_BYTES:
            raise ConfigurationError(f"batch max bytes must be within 1..{BATCH_MAX_BYTES}")
        if not self.expect_s > 0:
            raise ConfigurationError("the expected batch duration must be > 0 s")
