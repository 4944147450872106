"""``batchpoll run INPUT.jsonl -o OUTPUT.jsonl``: a bulk run from the command line (docs/runner.md).

The work is ``batchpoll.runner.run_items``; this module turns options into settings, and
``_execute`` runs them: progress, summary, report, one-line errors and exit codes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from openai import AsyncOpenAI
from rich.console import Console

from .. import BatchpollError, ConfigurationError, ToolHandler, WebhookSettings
from ..runner import (
    EXIT_USAGE,
    RETRYABLE,
    ItemDefaults,
    RunSettings,
    ToolsError,
    load_tools,
    public_url,
)
from ._batch_opts import batch_options, batch_settings
from ._execute import configure_logging, execute, fail
from ._shard_opts import shard_options, shard_output
from ._webhook_opts import webhook_serving

__all__ = ["configure_logging", "execute", "fail", "run"]

_REQUEST_TIMEOUT_S = 60.0  # per HTTP request; a job's overall deadline is --timeout


def _statuses(_: click.Context, __: click.Parameter, value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    chosen = frozenset(part.strip() for part in value.split(",") if part.strip())
    unknown = sorted(chosen - RETRYABLE)
    if unknown:
        raise click.BadParameter(
            f"unknown status {', '.join(map(repr, unknown))}; choose among "
            f"{', '.join(sorted(RETRYABLE))}"
        )
    return chosen


_RUN_HELP = """Run every line of INPUT.jsonl as one job; each result becomes one line of
the output. Rerun the same command to resume after a stop or a crash: finished items are not
redone, no job is created twice (docs/journal.md). Options may change on a rerun (a forgotten
--model, a higher --rpm) and apply to the items not sent yet, and so do fixed lines.

\b
Input, one JSON object per line ('id' optional: default the line number):
  {"id": "q1", "prompt": "Summarize ..."}          a background response (--model)
  {"id": "q2", "input": [...], "model": "gpt-4o"}  the same, with Responses input items
  {"id": "q3", "prompt": "...", "assistant_id": "asst_..."}   a legacy Assistants run
  {"id": "q4", "response_id": "resp_..."}          track a response that exists
  {"id": "q5", "thread_id": "thread_...", "run_id": "run_..."}  track an existing run
Other create parameters go at the top level (Responses: temperature, tools, ...) or in
"params". A line that cannot run becomes an 'error' result (bad_input) naming its line.

\b
Example:
  export OPENAI_API_KEY=sk-...
  batchpoll run items.jsonl -o results.jsonl --model gpt-4o-mini --rpm 500
  batchpoll status results.jsonl
  batchpoll run items.jsonl -o results.jsonl --model gpt-4o-mini --retry failed

\b
Exit codes: 0 every item completed, 1 some did not, 2 usage error (bad option,
no key, duplicate ids, another server's journal), 3 interrupted (rerun to resume),
4 fatal (key rejected, server unreachable, files unreadable).
"""


@click.command("run", help=_RUN_HELP)
@click.argument("input_path", metavar="INPUT.jsonl", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Results, one JSON line per item; a rerun appends, and keeps each item's last line.",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="API base URL of any OpenAI-compatible server (default: $OPENAI_BASE_URL, else OpenAI's).",
)
@click.option(
    "--api-key-env",
    metavar="NAME",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable holding the API key (never printed, logged or written).",
)
@click.option(
    "--rpm",
    type=click.FloatRange(min=1),
    default=500.0,
    show_default=True,
    help="Your account's requests-per-minute limit (at least 1); every request of the run "
    "shares it.",
)
@click.option(
    "--tpm",
    type=click.FloatRange(min=1),
    help="Your tokens-per-minute limit, per model: each Responses create and continuation "
    "waits until its estimated tokens (input characters / 4 + max_output_tokens) fit.",
)
@click.option(
    "--kind",
    type=click.Choice(["assistants", "responses"]),
    help="Kind of job for every created line (default: Responses, or Assistants for "
    "'prompt'/'messages' lines when an assistant id is given).",
)
@click.option("--assistant-id", metavar="ID", help="Assistant of lines without 'assistant_id'.")
@click.option(
    "--model", metavar="NAME", help="Model of lines without 'model' (required for responses)."
)
@click.option(
    "--tools",
    "tools_spec",
    metavar="FILE_OR_MODULE",
    help="Python file or module whose public functions are the tool handlers; their JSON "
    "schemas (from the signatures) are declared on every Responses request.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    default=3600.0,
    show_default=True,
    help="Overall deadline per job, in seconds (then 'timed_out', and the job is cancelled).",
)
@click.option(
    "--max-in-flight",
    type=click.IntRange(min=1),
    help="Jobs sent and not finished, at most (default: 30 s of the budget, at least 50).",
)
@click.option(
    "--max-concurrent-creates",
    type=click.IntRange(min=1),
    help="Creates on the wire at once, at most: a crash leaves at most this many items "
    "'uncertain' (default: half a second of --rpm, at least 2; none in safe mode, which "
    "finds runs again). Creates are then limited to this many per round trip.",
)
@click.option(
    "--create-mode",
    type=click.Choice(["fast", "safe"]),
    default="fast",
    show_default=True,
    help="safe (Assistants): thread first, so a crash never leaves a run uncertain "
    "(+1 request per item).",
)
@click.option(
    "--retry",
    metavar="STATUSES",
    callback=_statuses,
    help="Run again the items whose last outcome is one of these, comma-separated: failed, "
    "error, uncertain, timed_out (or expired, cancelled, incomplete); the new outcome "
    "replaces the old line. Only 'uncertain' can make a job twice: its first create may "
    "exist on the server.",
)
@click.option(
    "--redo-changed",
    is_flag=True,
    help="Lines edited since they ran run again as they are now (without it they are "
    "named and kept as they ran).",
)
@click.option(
    "--ambiguous-creates",
    type=click.Choice(["auto", "retry", "report"]),
    default="auto",
    show_default=True,
    help="A create that failed after it may have reached the server: auto sends it again "
    "after a 5xx with an error body (the server made nothing) and reports a lost reply (a "
    "timeout, a reset) as 'uncertain'; retry sends both again; report neither. An item sent "
    'again says "retried_ambiguous_create": true (a possible duplicate). docs/journal.md.',
)
@click.option(
    "--journal",
    "journal_path",
    type=click.Path(path_type=Path),
    help="Resume journal (default: OUTPUT.journal).",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    help="Write the summary as JSON here, with the settings (no secrets).",
)
@click.option(
    "--webhook-listen",
    metavar="HOST:PORT",
    help="Receive OpenAI webhooks here (secret: $OPENAI_WEBHOOK_SECRET); background responses "
    "are then polled only as a safety net (docs/webhooks.md).",
)
@click.option(
    "--webhook-safety-interval",
    "safety_interval_s",
    type=click.FloatRange(min=0, min_open=True),
    default=WebhookSettings().safety_interval_s,
    show_default=True,
    help="With --webhook-listen: seconds between safety checks of a background response.",
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "plain", "off"]),
    default="auto",
    show_default=True,
    help="Progress display: a bar on a terminal (auto), a plain line every 5 s, or none.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="No progress, no summary: errors only (and a run stalled for 60 s says why).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log batchpoll events on stderr.")
@click.option("--debug", is_flag=True, help="Debug logs, and tracebacks on errors.")
@shard_options
@batch_options
def run(
    input_path: Path,
    output_path: Path,
    base_url: str | None,
    api_key_env: str,
    rpm: float,
    tpm: float | None,
    kind: str | None,
    assistant_id: str | None,
    model: str | None,
    tools_spec: str | None,
    timeout_s: float,
    max_in_flight: int | None,
    max_concurrent_creates: int | None,
    create_mode: str,
    ambiguous_creates: str,
    retry: frozenset[str],
    redo_changed: bool,
    journal_path: Path | None,
    report_path: Path | None,
    webhook_listen: str | None,
    safety_interval_s: float,
    progress: str,
    quiet: bool,
    verbose: bool,
    debug: bool,
    budget_url: str | None,
    budget_name: str,
    shard: tuple[int, int] | None,
    **batch: Any,
) -> None:
    api_key = os.environ.get(api_key_env, "")
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    configure_logging(logging.ERROR if quiet else level, api_key or None)
    if not api_key:
        fail(f"no API key: set {api_key_env} (or name another variable with --api-key-env)", 2)
    if shard is not None:
        if budget_url is None:
            fail("--shard needs --budget: the shards share one rate limit", EXIT_USAGE, api_key)
        output_path = shard_output(output_path, shard)
    tools: Mapping[str, ToolHandler] = {}
    if tools_spec is not None:
        try:
            tools = load_tools(tools_spec)
        except ToolsError as exc:
            fail(str(exc), EXIT_USAGE, api_key)
    try:
        serve, webhooks = webhook_serving(webhook_listen, safety_interval_s)
    except ConfigurationError as exc:
        fail(str(exc), EXIT_USAGE, api_key)
    client = AsyncOpenAI(
        api_key=api_key, base_url=base_url, max_retries=0, timeout=_REQUEST_TIMEOUT_S
    )
    try:
        settings = RunSettings(
            input_path=input_path,
            output_path=output_path,
            rpm=rpm,
            tpm=tpm,
            journal_path=journal_path,
            base_url=public_url(str(client.base_url)),
            defaults=ItemDefaults(kind=kind, assistant_id=assistant_id, model=model),  # type: ignore[arg-type]
            create_mode=create_mode,  # type: ignore[arg-type]
            ambiguous_creates=ambiguous_creates,  # type: ignore[arg-type]
            timeout_s=timeout_s,
            max_in_flight=max_in_flight,
            max_concurrent_creates=max_concurrent_creates,
            webhooks=webhooks,
            retry=retry,
            redo_changed=redo_changed,
            batch=batch_settings(batch),
            budget_url=budget_url,
            budget_name=budget_name,
            shard=shard,
        )
    except BatchpollError as exc:
        fail(str(exc), EXIT_USAGE, api_key)
    console = Console(stderr=True)
    summary = execute(
        settings,
        client,
        tools,
        progress="off" if quiet else progress,  # type: ignore[arg-type]
        console=console,
        secret=api_key,
        debug=debug,
        report_path=report_path,
        show_summary=not quiet,
        serve=serve,
    )
    raise SystemExit(summary.exit_code)
