"""Values a run reports: live progress snapshots, the final summary, the output record."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import ErrorInfo, Outcome

__all__ = [
    "EXIT_FAILED",
    "EXIT_FATAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UNCERTAIN",
    "RunProgress",
    "RunSummary",
    "bad_line_record",
    "output_record",
    "percentile",
]

#: Status of an item whose create may or may not have reached the server (runner only).
UNCERTAIN = "uncertain"

# Exit codes of ``batchpoll run`` (documented in docs/runner.md).
EXIT_OK = 0  # every item completed
EXIT_FAILED = 1  # some items did not complete
EXIT_USAGE = 2  # bad command line or input as a whole (click's own code for usage errors)
EXIT_INTERRUPTED = 3  # SIGINT / SIGTERM: rerun the same command to resume
EXIT_FATAL = 4  # rejected key, unreachable base URL, unreadable journal or input


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def output_record(
    outcome: Outcome, line_no: int, *, extra_requests: int = 0, status: str | None = None
) -> dict[str, Any]:
    """An item's output line: ``Outcome.as_dict()`` plus its input line number."""
    data = outcome.as_dict()
    record: dict[str, Any] = {"id": data.pop("id"), "line": line_no, **data}
    record["requests"] += extra_requests
    if status is not None:
        record["status"] = status
    return record


def bad_line_record(key: str, line_no: int, error: ErrorInfo) -> dict[str, Any]:
    return {"id": key, "line": line_no, "status": "error", "error": error.as_dict()}


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A live snapshot for progress displays."""

    total: int
    done: int  # items with a result, including those of earlier (resumed) runs
    in_flight: int  # items being created or tracked now
    requests: int  # HTTP requests of this run so far
    rate_limited: int  # 429s of this run so far
    rate_rpm: float  # the budget's rate in use now
    limit_rpm: float  # the rate limit given (--rpm)
    elapsed_s: float
    by_status: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a run did. ``by_status`` covers every item of the input (earlier runs included);
    requests, 429s, latencies and elapsed time are this run's."""

    items: int
    by_status: Mapping[str, int]
    finished_now: int  # items that got their result in this run (bad lines aside)
    resumed_items: int  # items found in the journal (done or in flight) at the start
    requests: int
    rate_limited: int
    transient_errors: int
    elapsed_s: float
    latency_p50_s: float | None  # create → result, jobs finished in this run
    latency_p99_s: float | None
    interrupted: bool = False
    tpm: float | None = None  # the tokens-per-minute limit given (--tpm)
    tokens_reserved: int = 0  # tokens this run's requests were charged (the estimate)
    tokens_used: int = 0  # usage the server reported, summed over this run's jobs
    tool_rounds: int = 0  # rounds of tool calls answered in this run

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens_reserved / self.elapsed_s if self.elapsed_s > 0 else None

    @property
    def completed(self) -> int:
        return self.by_status.get("completed", 0)

    @property
    def requests_per_item(self) -> float | None:
        return self.requests / self.finished_now if self.finished_now else None

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_OK if self.completed == self.items else EXIT_FAILED

    def as_dict(self) -> dict[str, Any]:
        rpi = self.requests_per_item
        return {
            "items": self.items,
            "by_status": dict(sorted(self.by_status.items())),
            "finished_now": self.finished_now,
            "resumed_items": self.resumed_items,
            "requests": self.requests,
            "requests_per_item": round(rpi, 3) if rpi is not None else None,
            "rate_limited": self.rate_limited,
            "transient_errors": self.transient_errors,
            "elapsed_s": round(self.elapsed_s, 3),
            "latency_p50_s": _round(self.latency_p50_s),
            "latency_p99_s": _round(self.latency_p99_s),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "tpm": self.tpm,
            "tokens_reserved": self.tokens_reserved,
            "tokens_used": self.tokens_used,
            "tokens_per_s": _round(self.tokens_per_s),
            "tool_rounds": self.tool_rounds,
        }


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None
