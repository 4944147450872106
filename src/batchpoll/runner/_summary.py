"""Values a run reports: live progress snapshots, the final summary, the output record."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import ErrorInfo, Outcome, Poller, PollerStats, Status

__all__ = [
    "EXIT_FAILED",
    "EXIT_FATAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UNCERTAIN",
    "RunProgress",
    "RunSummary",
    "Tally",
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
    in_flight: int  # jobs sent to the server (or being looked for) and not finished
    requests: int  # HTTP requests of this run so far
    rate_limited: int  # 429s of this run so far
    rate_rpm: float  # the budget's rate in use now
    limit_rpm: float  # the rate limit given (--rpm)
    elapsed_s: float
    by_status: Mapping[str, int] = field(default_factory=dict)
    queued: int = 0  # admitted creates still waiting for their turn in the budget
    transient_errors: int = 0  # of this run so far (5xx, timeouts, lost connections)
    paused_s: float = 0.0  # the budget's remaining pause after a 429
    detail: str = ""  # more, for a person: e.g. a batch run's batches by state


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
    bad_input: int = 0  # lines that cannot run (an ``error`` of type ``bad_input``)
    bad_input_examples: tuple[str, ...] = ()  # the first few messages, naming their lines
    retried: int = 0  # items run again by ``retry``
    changed: tuple[tuple[int, str, bool], ...] = ()  # (line, id, run again) edited since run

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
            "bad_input": self.bad_input,
            "retried": self.retried,
            "changed_lines": [line for line, _, _ in self.changed],
        }


_EXAMPLES = 5


class Tally:
    """What a run has settled, counted as it comes (the items of earlier runs included), and
    what this invocation did; ``summary`` makes the ``RunSummary``."""

    def __init__(self) -> None:
        self.by_status: Counter[str] = Counter()
        self.done = 0
        self.bad_input = 0
        self.bad_examples: list[str] = []
        self.latencies: list[float] = []  # create → result, of this run's jobs
        self.tokens_used = 0
        self.tool_rounds = 0
        self.finished_now = 0  # items that got their result in this run (bad lines aside)
        self.resumed = 0  # items found in the journal (done or in flight) at the start

    def settled(self, record: Mapping[str, Any]) -> None:
        self.by_status[str(record["status"])] += 1
        self.done += 1
        error = record.get("error")
        if isinstance(error, Mapping) and error.get("type") == "bad_input":
            self.bad_input += 1
            if len(self.bad_examples) < _EXAMPLES:
                self.bad_examples.append(str(error.get("message")))

    def outcome(self, outcome: Outcome) -> None:
        self.tool_rounds += outcome.tool_rounds
        if outcome.usage is not None:
            self.tokens_used += outcome.usage.total_tokens

    def progress(
        self, poller: Poller, *, total: int, in_flight: int, queued: int, limit_rpm: float,
        elapsed_s: float,
    ) -> RunProgress:  # fmt: skip
        """A live snapshot: this tally and the poller's counters now."""
        st = poller.stats()
        return RunProgress(
            total=total,
            done=self.done,
            in_flight=in_flight,
            requests=st.requests,
            rate_limited=st.rate_limited,
            rate_rpm=st.rate_rpm,
            limit_rpm=limit_rpm,
            elapsed_s=elapsed_s,
            by_status=dict(self.by_status),
            queued=queued,
            transient_errors=st.transient_errors,
            paused_s=poller.budget.stats().paused_s,
        )

    def summary(self, items: int, stats: PollerStats, **more: Any) -> RunSummary:
        """``more``: ``elapsed_s``, ``interrupted``, ``tpm``, ``retried``, ``changed``."""
        return RunSummary(
            items=items,
            by_status=dict(self.by_status),
            finished_now=self.finished_now,
            resumed_items=self.resumed,
            requests=stats.requests,
            rate_limited=stats.rate_limited,
            transient_errors=stats.transient_errors,
            latency_p50_s=percentile(self.latencies, 0.5),
            latency_p99_s=percentile(self.latencies, 0.99),
            tokens_reserved=0 if stats.tokens is None else stats.tokens.reserved,
            tokens_used=self.tokens_used,
            tool_rounds=self.tool_rounds,
            bad_input=self.bad_input,
            bad_input_examples=tuple(self.bad_examples),
            **more,
        )


def _round(value: float | None) -> float | None:
    return round(value, 3) if value is not None else None


def uncertain_record(
    key: str, kind: str, line_no: int, requests: int, *, resumed: bool = False
) -> dict[str, Any]:
    """The output line of an item whose create may exist on the server (``resumed``: the
    process stopped before its reply was recorded; else it failed ambiguously)."""
    how = "the process stopped before its response" if resumed else "it failed ambiguously"
    error = ErrorInfo(
        UNCERTAIN,
        f"the create was sent but {how} was recorded: the job may exist on the server; "
        "it is not created again (--create-mode safe finds runs again)",
    )
    outcome = Outcome(key, kind, Status.ERROR, error=error, requests=requests)
    return output_record(outcome, line_no, status=UNCERTAIN)
