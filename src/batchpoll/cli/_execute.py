"""How the command line runs a bulk run: logging on stderr (the only place batchpoll's output
is configured), signals, the progress display, the summary and report, and one-line errors
with their exit codes (no traceback unless ``--debug``); the API key is kept out of all of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import click
import structlog
from openai import AsyncOpenAI
from rich.console import Console

from .. import AccountRefusedError, ConfigurationError, ToolHandler, __version__
from ..runner import (
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    InputError,
    InputUnreadableError,
    JournalError,
    JournalMismatchError,
    RunSettings,
    RunSummary,
    ToolsError,
    UnreachableError,
    public_url,
    run_items,
)
from ._progress import ProgressMode, make_display, print_bad_input, print_summary
from ._webhook_opts import Serve

__all__ = ["configure_logging", "execute", "fail"]


class _Stderr:
    """structlog's output, looked up at each call: a live progress bar swaps ``sys.stderr``
    to print above itself, and a logger bound to the original would draw over it."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = msg


def _scrubber(secret: str | None) -> Callable[[Any, str, Any], Any]:
    def scrub(_: Any, __: str, event_dict: Any) -> Any:
        if secret:
            for name, value in event_dict.items():
                if isinstance(value, str) and secret in value:
                    event_dict[name] = value.replace(secret, "***")
        return event_dict

    return scrub


# Events whose news the command prints itself as its one-line error.
_REPORTED = frozenset({"batchpoll.poller.auth_failed", "batchpoll.run.fatal"})


def _drop_reported(_: Any, __: str, event_dict: Any) -> Any:
    if event_dict.get("event") in _REPORTED:
        raise structlog.DropEvent
    return event_dict


def configure_logging(level: int, secret: str | None = None) -> None:
    """Only the command line configures logging: batchpoll events at ``level`` on stderr."""
    structlog.configure(
        processors=[
            *([_drop_reported] if level > logging.INFO else []),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            _scrubber(secret),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _Stderr(),
        cache_logger_on_first_use=False,
    )


def _exit_code(exc: BaseException) -> int | None:
    """The exit code of an expected failure, None for a bug."""
    usage = (InputError, JournalMismatchError, ToolsError, ConfigurationError)
    if isinstance(exc, InputUnreadableError | UnreachableError | AccountRefusedError):
        return EXIT_FATAL
    if isinstance(exc, usage):
        return EXIT_USAGE
    if isinstance(exc, JournalError):
        return EXIT_FATAL
    return None


def _unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def fail(message: str, code: int, secret: str | None = None) -> NoReturn:
    if secret:
        message = message.replace(secret, "***")
    click.echo(f"batchpoll: error: {message}", err=True)
    raise SystemExit(code)


def execute(
    settings: RunSettings,
    client: AsyncOpenAI,
    tools: Mapping[str, ToolHandler],
    *,
    progress: ProgressMode,
    console: Console,
    secret: str | None,
    debug: bool,
    report_path: Path | None = None,
    report_extra: Mapping[str, Any] | None = None,
    show_summary: bool = True,
    serve: Serve | None = None,
    title: str = "batchpoll run",
) -> RunSummary:
    """Run with signal handling, progress display, summary and report; errors exit."""
    try:
        summary = asyncio.run(_main(settings, client, tools, progress, console, serve, secret))
    except BaseException as raw:
        exc = _unwrap(raw)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        code = _exit_code(exc)
        if debug or code is None:
            traceback.print_exception(exc, file=sys.stderr)
        if code is None:
            fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_FATAL, secret)
        fail(str(exc), code, secret)
    if show_summary:
        print_summary(console, summary, title)
        print_bad_input(console, summary)
    if report_path is not None:
        report = {
            "version": __version__,
            "summary": summary.as_dict(),
            "settings": {
                "input": str(settings.input_path),
                "output": str(settings.output_path),
                "journal": str(settings.journal),
                "base_url": public_url(settings.base_url or ""),
                "rpm": settings.rpm,
                "tpm": settings.tpm,
                "kind": settings.defaults.kind,
                "assistant_id": settings.defaults.assistant_id,
                "model": settings.defaults.model,
                "create_mode": settings.create_mode,
                "retry": sorted(settings.retry),
                "redo_changed": settings.redo_changed,
                "timeout_s": settings.timeout_s,
                "max_in_flight": settings.in_flight_limit,
                "max_concurrent_creates": settings.max_concurrent_creates,
            },
            **(report_extra or {}),
        }
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        if secret:
            text = text.replace(secret, "***")
        try:
            report_path.write_text(text)
        except OSError as exc:
            fail(f"cannot write report {str(report_path)!r}: {exc.strerror}", EXIT_FATAL)
    return summary


async def _main(
    settings: RunSettings,
    client: AsyncOpenAI,
    tools: Mapping[str, ToolHandler],
    progress: ProgressMode,
    console: Console,
    serve: Serve | None = None,
    secret: str | None = None,
) -> RunSummary:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():  # the second one: every journal commit is already consistent
            print("batchpoll: interrupted again, exiting now", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        name = signal.Signals(signum).name
        print(
            f"batchpoll: {name}: stopping (no new creates; rerun the same command to resume)",
            file=sys.stderr,
            flush=True,
        )
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    display = make_display(progress, console)

    def notice(message: str) -> None:  # even with -q: a stall, a changed line
        if secret:
            message = message.replace(secret, "***")
        console.print(f"batchpoll: {message}", markup=False, highlight=False, soft_wrap=True)

    try:
        return await run_items(
            settings,
            client,
            tools=tools,
            stop=stop,
            on_progress=display.update,
            serve=serve,
            on_notice=notice,
        )
    finally:
        display.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await client.close()
