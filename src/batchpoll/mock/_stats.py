"""What the mock saw: request counters kept incrementally, job figures derived on demand.

Request-level numbers (counts, 429s, the busiest 1 s and 60 s windows of accepted requests)
are updated as requests arrive. Job-level numbers (checks per job, detection lag, statuses) are
computed from the job records when asked, because a job's status depends on ``now``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Sequence
from typing import Any

from ._chains import Chain
from ._limiter import MINUTE, SECOND, SlidingWindow, to_ticks
from ._sim import JobRecord, snapshot

__all__ = [
    "RequestStats",
    "chain_stats",
    "creates_by_metadata",
    "duplicate_summary",
    "job_stats",
    "percentile",
]


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _summary(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "mean": (sum(ordered) / len(ordered)) if ordered else None,
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
    }


class RequestStats:
    def __init__(self) -> None:
        self.requests_total = 0
        self.requests_accepted = 0
        self.rate_limited = 0
        self.unauthorized = 0
        self.by_route: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.faults: Counter[str] = Counter()
        self._second = SlidingWindow(SECOND)
        self._minute = SlidingWindow(MINUTE)
        self.max_accepted_1s = 0
        self.max_accepted_60s = 0
        self._received = SlidingWindow(SECOND)
        self.max_received_1s = 0
        self.tokens_charged = 0
        self.tokens_by_model: Counter[str] = Counter()
        self._token_window: deque[tuple[int, int]] = deque()  # (tick, tokens), last 60 s
        self._tokens_60s = 0
        self.max_tokens_60s = 0
        self.rate_limited_tokens = 0
        self.requests_too_large = 0
        self.quota_refused = 0  # 429 insufficient_quota

    def received(self, now_s: float) -> None:
        """A ``/v1`` request arrived, whatever its fate (401 and 429 included): what a client
        sends, not what the limiter let through."""
        self.max_received_1s = max(self.max_received_1s, self._received.add(to_ticks(now_s)))

    def accepted(self, now_s: float) -> None:
        """A request passed auth and the rate limiter (it counts against the budget)."""
        self.requests_accepted += 1
        now = to_ticks(now_s)
        # The busiest window always ends at an acceptance, so checking at each one is exact.
        self.max_accepted_1s = max(self.max_accepted_1s, self._second.add(now))
        self.max_accepted_60s = max(self.max_accepted_60s, self._minute.add(now))

    def tokens_accepted(self, now_s: float, model: str, tokens: int) -> None:
        """A request was charged ``tokens`` against ``model``'s token budget."""
        self.tokens_charged += tokens
        self.tokens_by_model[model] += tokens
        now = to_ticks(now_s)
        window = self._token_window
        while window and window[0][0] <= now - MINUTE:
            self._tokens_60s -= window.popleft()[1]
        window.append((now, tokens))
        self._tokens_60s += tokens
        # As for requests, the busiest window ends at an acceptance: checking there is exact.
        self.max_tokens_60s = max(self.max_tokens_60s, self._tokens_60s)

    def token_rejected(self, *, too_large: bool) -> None:
        if too_large:
            self.requests_too_large += 1
        else:
            self.rate_limited_tokens += 1

    def replied(self, route: str, status: str) -> None:
        self.requests_total += 1
        self.by_route[route][status] += 1
        if status == "429":
            self.rate_limited += 1
        elif status == "401":
            self.unauthorized += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "requests_accepted": self.requests_accepted,
            "requests_by_route": {
                route: dict(sorted(counts.items()))
                for route, counts in sorted(self.by_route.items())
            },
            "rate_limited": self.rate_limited,
            "unauthorized": self.unauthorized,
            "max_accepted_1s": self.max_accepted_1s,
            "max_accepted_60s": self.max_accepted_60s,
            "max_received_1s": self.max_received_1s,
            "faults": dict(sorted(self.faults.items())),
            "rate_limited_requests": self.rate_limited
            - self.rate_limited_tokens
            - self.requests_too_large
            - self.quota_refused,
            "rate_limited_tokens": self.rate_limited_tokens,
            "requests_too_large": self.requests_too_large,
            "insufficient_quota": self.quota_refused,
            "tokens_charged": self.tokens_charged,
            "tokens_by_model": dict(sorted(self.tokens_by_model.items())),
            "max_tokens_60s": self.max_tokens_60s,
        }


def job_stats(jobs: Sequence[JobRecord], now: float, metadata_key: str) -> dict[str, Any]:
    by_status: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    checks: list[int] = []
    lags: list[float] = []
    action_lags: list[float] = []
    undetected = 0
    asked = submitted = actions_expired = runs_expired = 0
    for job in jobs:
        snap = snapshot(job, now)
        by_status[snap.status] += 1
        by_kind[job.kind] += 1
        if job.kind == "run":  # response chains have their own figures (chain_stats)
            asked += snap.rounds_asked
            submitted += len(job.submissions)
        if snap.expired_by == "action":
            actions_expired += 1
        elif snap.expired_by == "run":
            runs_expired += 1
        if not job.polled:
            continue
        checks.append(job.checks)
        action_lags.extend(job.action_lags_s.values())
        if job.terminal_lag_s is not None:
            lags.append(job.terminal_lag_s)
        elif snap.terminal:
            undetected += 1
    checks.sort()
    detection = _summary(lags)
    detection["undetected"] = undetected
    return {
        "jobs_total": len(jobs),
        "jobs_by_kind": dict(sorted(by_kind.items())),
        "jobs_by_status": dict(sorted(by_status.items())),
        "checks_per_job": {
            "jobs": len(checks),
            "total": sum(checks),
            "mean": (sum(checks) / len(checks)) if checks else None,
            "p50": percentile(checks, 0.5),
            "max": checks[-1] if checks else None,
        },
        "detection_lag_s": detection,
        "action_detection_lag_s": _summary(action_lags),
        "tool_calls_asked": asked,
        "tool_outputs_submitted": submitted,
        "actions_expired": actions_expired,
        "runs_expired": runs_expired,
        "creates_total": len(jobs),
        "duplicate_creates": duplicate_summary(jobs, metadata_key),
    }


def creates_by_metadata(jobs: Iterable[JobRecord], key: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for job in jobs:
        value = job.labels.get(key)
        if value is not None:
            counts[value] += 1
    return dict(counts)


def duplicate_summary(jobs: Sequence[JobRecord], key: str) -> dict[str, Any]:
    counts = creates_by_metadata(jobs, key)
    duplicated = {value: n for value, n in counts.items() if n > 1}
    top = sorted(duplicated.items(), key=lambda item: (-item[1], item[0]))[:20]
    return {
        "key": key,
        "values": len(counts),
        "without_key": len(jobs) - sum(counts.values()),
        "duplicated_values": len(duplicated),
        "extra_creates": sum(n - 1 for n in duplicated.values()),
        "top": dict(top),
    }


def chain_stats(
    chains: Sequence[Chain], now: float, continuations: int, rejected: int
) -> dict[str, Any]:
    """Function-call chains of background responses (one per root response)."""
    asked = received = completed = with_calls = 0
    lengths: list[int] = []
    for chain in chains:
        job = chain.job
        snap = snapshot(job, now)
        asked += sum(job.draws.calls_in_round(k) for k in range(1, snap.rounds_asked + 1))
        received += sum(job.draws.calls_in_round(k) for k in range(1, len(job.submissions) + 1))
        lengths.append(len(chain.response_ids))
        if job.draws.tool_rounds > 0:
            with_calls += 1
            completed += snap.status == "completed"
    lengths.sort()
    return {
        "function_calls_asked": asked,
        "function_call_outputs_received": received,
        "continuations": continuations,
        "continuations_rejected": rejected,
        "chains_with_calls": with_calls,
        "chains_completed": completed,
        "responses_per_chain": {
            "chains": len(lengths),
            "mean": (sum(lengths) / len(lengths)) if lengths else None,
            "p50": percentile(lengths, 0.5),
            "max": lengths[-1] if lengths else None,
        },
    }
