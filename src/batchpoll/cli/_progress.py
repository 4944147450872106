"""What a run shows while it works and when it ends: a rich progress bar on a terminal, a plain
status line every few seconds elsewhere (logs, CI), and the summary table. All on stderr, so
stdout stays clean for whoever pipes it."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..runner import RunProgress, RunSummary

__all__ = [
    "Display",
    "ProgressMode",
    "make_display",
    "print_bad_input",
    "print_server_stats",
    "print_summary",
]

ProgressMode = Literal["auto", "bar", "plain", "off"]
PLAIN_EVERY_S = 5.0


class Display(Protocol):
    def update(self, progress: RunProgress) -> None: ...
    def close(self) -> None: ...


class _Rate:
    """Requests per second over the last few seconds (a whole-run average hides a stall)."""

    def __init__(self, window_s: float = 3.0) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def per_s(self, elapsed_s: float, requests: int) -> float:
        self._samples.append((elapsed_s, requests))
        while len(self._samples) > 2 and elapsed_s - self._samples[1][0] >= self._window_s:
            self._samples.popleft()
        t0, n0 = self._samples[0]
        return (requests - n0) / (elapsed_s - t0) if elapsed_s > t0 else 0.0


class _Bar:
    def __init__(self, console: Console) -> None:
        self._rate = _Rate()
        # Fits 80 columns: the bar, done/total, one status text, elapsed and the ETA.
        self._progress = Progress(
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(compact=True),
            console=console,
            refresh_per_second=4,
        )
        self._task: TaskID | None = None
        self._progress.start()

    def update(self, p: RunProgress) -> None:
        rate = self._rate.per_s(p.elapsed_s, p.requests)
        queued = f" +{p.queued}" if p.queued else ""
        status = (
            f"· {p.in_flight}{queued} in flight · {rate:.1f}/{p.limit_rpm / 60:.0f} req/s · "
            f"{p.rate_limited}×429 ·"
        )
        if p.detail:
            status = f"{status} {p.detail} ·"
        if self._task is None:
            self._task = self._progress.add_task(
                "run", total=p.total, completed=p.done, status=status
            )
        else:
            self._progress.update(self._task, completed=p.done, status=status)

    def close(self) -> None:
        self._progress.refresh()  # the last update (N/N at the end) is drawn before it stops
        self._progress.stop()


class _Plain:
    def __init__(self, every_s: float = PLAIN_EVERY_S) -> None:
        self._every_s = every_s
        self._next = time.monotonic() + every_s  # a run that ends at once prints nothing
        self._rate = _Rate(window_s=every_s)

    def update(self, p: RunProgress) -> None:
        rate = self._rate.per_s(p.elapsed_s, p.requests)
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self._every_s
        print(
            f"batchpoll: {p.done}/{p.total} done, {p.in_flight} in flight, {p.queued} to send, "
            f"{rate:.1f} req/s (limit {p.limit_rpm / 60:.1f}), {p.rate_limited} × 429, "
            f"{p.elapsed_s:.0f} s" + (f"; {p.detail}" if p.detail else ""),
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        pass


class _Off:
    def update(self, progress: RunProgress) -> None:
        pass

    def close(self) -> None:
        pass


def make_display(mode: ProgressMode, console: Console) -> Display:
    if mode == "auto":
        mode = "bar" if console.is_terminal else "plain"
    if mode == "bar":
        return _Bar(console)
    if mode == "plain":
        return _Plain()
    return _Off()


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def print_summary(console: Console, summary: RunSummary, title: str = "batchpoll run") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("items", str(summary.items))
    for status, count in sorted(summary.by_status.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {status}", str(count))
        if status == "error" and summary.bad_input:
            table.add_row("    of which bad input lines", str(summary.bad_input))
    if summary.retried:
        table.add_row("retried (--retry)", str(summary.retried))
    if summary.resumed_items:
        table.add_row("resumed from the journal", str(summary.resumed_items))
    rpi = summary.requests_per_item
    table.add_row("requests", str(summary.requests))
    table.add_row("requests / item", "-" if rpi is None else f"{rpi:.2f}")
    table.add_row("429s", str(summary.rate_limited))
    if summary.tool_rounds:
        table.add_row("tool-call rounds answered", str(summary.tool_rounds))
    tps = summary.tokens_per_s
    if summary.tpm is not None and tps is not None:
        limit = f"limit {summary.tpm / 60:,.0f}/s once a minute's {summary.tpm:,.0f} is spent"
        table.add_row("tokens / s (estimated)", f"{tps:,.0f} ({limit})")
    if summary.tokens_used:
        table.add_row("tokens used (usage)", f"{summary.tokens_used:,}")
    table.add_row("transient errors", str(summary.transient_errors))
    table.add_row("elapsed", _fmt_s(summary.elapsed_s))
    table.add_row("job latency p50", _fmt_s(summary.latency_p50_s))
    table.add_row("job latency p99", _fmt_s(summary.latency_p99_s))
    if summary.interrupted:
        table.add_row("interrupted", "yes: rerun the same command to resume")
    console.print(table)


def print_bad_input(console: Console, summary: RunSummary) -> None:
    """The first bad lines' messages, each naming its line, so nobody has to dig them out."""
    if not summary.bad_input:
        return
    n = summary.bad_input
    lines = "1 input line cannot run" if n == 1 else f"{n} input lines cannot run"
    console.print(
        f"batchpoll: {lines}; fix the input or the options and rerun the same command (only "
        "those lines run then):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for message in summary.bad_input_examples:
        console.print(f"  {message}", markup=False, highlight=False, soft_wrap=True)
    if n > len(summary.bad_input_examples):
        more = n - len(summary.bad_input_examples)
        console.print(f"  ... and {more} more (status 'error', type 'bad_input' in the output)")


def print_server_stats(console: Console, stats: Mapping[str, Any], rpm: float) -> None:
    """The mock's own view of the run (what the server saw, not what the client believes)."""
    lag = stats.get("detection_lag_s", {})
    dup = stats.get("duplicate_creates", {})
    table = Table(title="mock server", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("requests received", str(stats.get("requests_total")))
    table.add_row("429s sent", str(stats.get("rate_limited")))
    table.add_row("max accepted in 1 s", f"{stats.get('max_accepted_1s')} (limit {rpm / 60:.0f})")
    table.add_row("detection lag p50", _fmt_s(lag.get("p50")))
    table.add_row("detection lag p99", _fmt_s(lag.get("p99")))
    if stats.get("function_calls_asked"):  # background responses' chains
        asked, answered = stats["function_calls_asked"], stats.get("function_call_outputs_received")
        table.add_row("function calls asked / answered", f"{asked} / {answered}")
        table.add_row("continuations refused", str(stats.get("continuations_rejected")))
    if stats.get("tool_calls_asked"):  # Assistants runs
        table.add_row("tool outputs submitted", str(stats.get("tool_outputs_submitted")))
        table.add_row("tool calls expired", str(stats.get("actions_expired")))
    if stats.get("tpm"):
        table.add_row("tokens charged", f"{stats.get('tokens_charged', 0):,}")
        table.add_row(
            "max tokens in 60 s",
            f"{stats.get('max_tokens_60s', 0):,} (limit ~{stats['tpm']:,} + refill)",
        )
        table.add_row("token 429s", str(stats.get("rate_limited_tokens")))
    table.add_row("duplicate creates", str(dup.get("extra_creates")))
    console.print(table)
