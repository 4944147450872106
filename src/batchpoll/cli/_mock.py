"""``batchpoll mock``: serve the OpenAI-compatible mock server (see docs/mock.md).

Each flag maps to one :class:`batchpoll.mock.MockConfig` field; defaults are read from the
dataclass so the two never drift apart. The first line printed is the base URL.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import ConfigurationError

__all__ = ["mock"]

_DEFAULTS: dict[str, Any] = {}
try:  # The mock extra may be missing; the command then explains instead of crashing at import.
    from ..mock import FaultWindow, MockConfig

    _DEFAULTS = {name: getattr(MockConfig(), name) for name in MockConfig.__dataclass_fields__}
    _MOCK_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only without the extra
    _MOCK_AVAILABLE = False


def _d(name: str) -> Any:
    return _DEFAULTS.get(name)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, int]:
    table: dict[str, int] = {}
    for value in values:
        klass, sep, number = value.partition("=")
        if not sep or not number.isdigit():
            raise click.BadParameter(f"expected NAME=N, got {value!r}", param_hint=option)
        table[klass] = int(number)
    return table


def _schedule(values: tuple[str, ...]) -> list[tuple[float, int]]:
    steps: list[tuple[float, int]] = []
    for value in values:
        t_s, sep, rpm = value.partition(":")
        try:
            steps.append((float(t_s), int(rpm)))
        except ValueError:
            raise click.BadParameter(
                f"expected T_S:RPM, got {value!r}", param_hint="--rate-step"
            ) from None
        if not sep:
            raise click.BadParameter(f"expected T_S:RPM, got {value!r}", param_hint="--rate-step")
    return steps


def _windows(values: tuple[str, ...]) -> list[FaultWindow]:
    windows: list[FaultWindow] = []
    for value in values:
        parts = value.split(":")
        if not 3 <= len(parts) <= 5:
            raise click.BadParameter(
                f"expected START_S:END_S:KIND[:RATE[:CLASS]], got {value!r}",
                param_hint="--fault-window",
            )
        try:
            windows.append(
                FaultWindow(
                    start_s=float(parts[0]),
                    end_s=float(parts[1]),
                    kind=parts[2],  # type: ignore[arg-type]  # validated by FaultWindow
                    rate=float(parts[3]) if len(parts) > 3 else 1.0,
                    request_class=parts[4] if len(parts) > 4 else None,  # type: ignore[arg-type]
                )
            )
        except (ValueError, ConfigurationError) as exc:
            raise click.BadParameter(str(exc), param_hint="--fault-window") from None
    return windows


# Options without their own help= get it here (from docs/mock.md's table); a test checks that
# every option of every command has one.
_HELP = {
    "duration_median": "Median work time of a job in seconds (lognormal).",
    "duration_sigma": "Sigma of log(work time); 0 makes every job take the median.",
    "queue_delay": "Seconds a job stays 'queued' after its create.",
    "fail_rate": "Probability that a job ends 'failed'.",
    "incomplete_rate": "Probability that a job ends 'incomplete'.",
    "tool_rate": "Probability that a job that declares a function asks for a tool call.",
    "tool_repeat_rate": "After each round of tool calls, probability that it asks again.",
    "max_tool_rounds": "Rounds of tool calls per job, at most.",
    "tool_name": "The function called, if the job declares it (else its first one).",
    "action_expiry": "Seconds after which an unanswered requires_action expires the run.",
    "run_expiry": "A run not terminal this many seconds after its create ends 'expired'.",
    "cancel_delay": "Seconds a cancelled run stays 'cancelling'.",
    "batch_validating": "Seconds a batch stays 'validating'.",
    "batch_in_progress": "Seconds a batch's lines take to run, one after another.",
    "batch_finalizing": "Seconds a batch stays 'finalizing'.",
    "batch_window": "A batch's completion window in seconds (what expires_at says).",
    "batch_line_fail_rate": "Probability that a batch line gets a 500 (in the error file).",
    "batch_expire_rate": "Probability that a batch expires, keeping the lines it finished.",
    "batch_expire_nth": "The N-th batch created (1 = first) expires; repeatable.",
    "batch_expire_share": "Share of its lines an expiring batch finishes before it expires.",
    "batch_queue_tokens": "Enqueued batch tokens per model; over it: token_limit_exceeded.",
    "fine_tune_duration": "Seconds a fine-tuning job takes.",
    "fine_tune_fail_rate": "Probability that a fine-tuning job ends 'failed'.",
    "file_batch_duration": "Seconds a vector-store file batch takes.",
    "latency_ms": "Delay of every /v1 reply, in milliseconds.",
    "latency_jitter_ms": "Plus a uniform random delay up to this many milliseconds.",
    "error_rate": "Probability of a 500/502/503 reply.",
    "disconnect_rate": "Probability that the connection drops half-way through the reply.",
    "slow_rate": "Probability of a very slow reply (--slow-ms).",
    "slow_ms": "Delay of a slow reply, in milliseconds.",
    "malformed_rate": "Probability of a 200 whose JSON body is cut in half.",
    "webhook_delay": "Seconds after the response ended before its event is sent.",
    "webhook_delay_jitter": "Plus a uniform random delay up to this many seconds.",
    "webhook_loss": "Probability that an event is never sent.",
    "webhook_duplicate": "Probability that an event is sent twice (same webhook-id).",
    "webhook_reorder": "Probability that an event is held back, so later ones overtake it.",
    "webhook_reorder_delay": "Scale in seconds of that hold-back and of a duplicate's delay.",
    "webhook_timeout": "Seconds a delivery may take before it counts as failed (and is retried).",
    "seed": "Seeds every random draw and every id.",
    "metadata_key": "Creates are counted per value of this metadata key.",
}


def _described(command: click.Command) -> click.Command:
    for param in command.params:
        if isinstance(param, click.Option) and not param.help and param.name in _HELP:
            param.help = _HELP[param.name]
    return command


@_described
@click.command("mock", epilog="Example: batchpoll mock --port 8000 --rpm 600 --fail-rate 0.1")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port; 0 picks a free one.")
@click.option("--rpm", type=int, default=None, help="Requests per minute (default: unlimited).")
@click.option("--burst", type=int, default=None, help="Max accepted per 1 s (default rpm/60).")
@click.option("--class-rpm", multiple=True, metavar="CLASS=N", help="Budget for get|post|create.")
@click.option("--class-burst", multiple=True, metavar="CLASS=N", help="1 s cap per class.")
@click.option("--rate-step", multiple=True, metavar="T_S:RPM", help="At T_S s, rpm becomes RPM.")
@click.option(
    "--header-semantics",
    type=click.Choice(["bucket", "window"]),
    default=_d("header_semantics"),
    show_default=True,
    help="x-ratelimit-remaining/reset-requests: OpenAI's refilled bucket, or the 60 s window.",
)
@click.option("--rpd", type=int, default=None, help="Requests per day (default: unlimited).")
@click.option(
    "--quota-exhausted-after",
    type=int,
    default=None,
    metavar="N",
    help="After N accepted requests, every request: 429 insufficient_quota.",
)
@click.option(
    "--tpm",
    type=int,
    default=None,
    help="Tokens per minute per model, for Responses creates (default: unlimited).",
)
@click.option("--model-tpm", multiple=True, metavar="MODEL=N", help="TPM of one model.")
@click.option("--duration-median", type=float, default=_d("duration_median_s"), show_default=True)
@click.option("--duration-sigma", type=float, default=_d("duration_sigma"), show_default=True)
@click.option("--queue-delay", type=float, default=_d("queue_delay_s"), show_default=True)
@click.option("--fail-rate", type=float, default=_d("fail_rate"), show_default=True)
@click.option("--incomplete-rate", type=float, default=_d("incomplete_rate"), show_default=True)
@click.option("--tool-rate", type=float, default=_d("tool_rate"), show_default=True)
@click.option("--tool-repeat-rate", type=float, default=_d("tool_repeat_rate"), show_default=True)
@click.option("--max-tool-rounds", type=int, default=_d("max_tool_rounds"), show_default=True)
@click.option("--tool-name", default=_d("tool_name"), show_default=True)
@click.option(
    "--parallel-calls-rate",
    type=float,
    default=_d("parallel_calls_rate"),
    show_default=True,
    help="Probability that a response's tool round asks two calls at once.",
)
@click.option("--action-expiry", type=float, default=_d("action_expiry_s"), show_default=True)
@click.option("--run-expiry", type=float, default=_d("run_expiry_s"), show_default=True)
@click.option("--cancel-delay", type=float, default=_d("cancel_delay_s"), show_default=True)
@click.option("--batch-validating", type=float, default=_d("batch_validating_s"), show_default=True)
@click.option(
    "--batch-in-progress", type=float, default=_d("batch_in_progress_s"), show_default=True
)
@click.option("--batch-finalizing", type=float, default=_d("batch_finalizing_s"), show_default=True)
@click.option("--batch-window", type=float, default=_d("batch_window_s"), show_default=True)
@click.option(
    "--batch-line-fail-rate", type=float, default=_d("batch_line_fail_rate"), show_default=True
)
@click.option("--batch-expire-rate", type=float, default=_d("batch_expire_rate"), show_default=True)
@click.option("--batch-expire-nth", type=int, multiple=True, metavar="N")
@click.option(
    "--batch-expire-share", type=float, default=_d("batch_expire_share"), show_default=True
)
@click.option("--batch-queue-tokens", type=int, default=None)
@click.option(
    "--fine-tune-duration", type=float, default=_d("fine_tune_duration_s"), show_default=True
)
@click.option(
    "--fine-tune-fail-rate", type=float, default=_d("fine_tune_fail_rate"), show_default=True
)
@click.option(
    "--file-batch-duration", type=float, default=_d("file_batch_duration_s"), show_default=True
)
@click.option("--poll-after-ms", type=int, default=None, help="Send openai-poll-after-ms.")
@click.option("--model", default=_d("model"), show_default=True, help="Model of runs without one.")
@click.option("--latency-ms", type=float, default=_d("latency_ms"), show_default=True)
@click.option("--latency-jitter-ms", type=float, default=_d("latency_jitter_ms"), show_default=True)
@click.option("--error-rate", type=float, default=_d("error_rate"), show_default=True)
@click.option("--disconnect-rate", type=float, default=_d("disconnect_rate"), show_default=True)
@click.option(
    "--disconnect-before-processing",
    is_flag=True,
    help="Dropped requests never reach the handler (default: they take effect, then drop).",
)
@click.option("--slow-rate", type=float, default=_d("slow_rate"), show_default=True)
@click.option("--slow-ms", type=float, default=_d("slow_ms"), show_default=True)
@click.option("--malformed-rate", type=float, default=_d("malformed_rate"), show_default=True)
@click.option(
    "--fault-window",
    multiple=True,
    metavar="START_S:END_S:KIND[:RATE[:CLASS]]",
    help="KIND is error|disconnect|slow|malformed.",
)
@click.option("--webhook-url", default=None, help="POST background-response events here.")
@click.option(
    "--webhook-secret",
    envvar="OPENAI_WEBHOOK_SECRET",
    default=None,
    help="Signing secret whsec_... (default: $OPENAI_WEBHOOK_SECRET).",
)
@click.option("--webhook-delay", type=float, default=_d("webhook_delay_s"), show_default=True)
@click.option(
    "--webhook-delay-jitter", type=float, default=_d("webhook_delay_jitter_s"), show_default=True
)
@click.option("--webhook-loss", type=float, default=_d("webhook_loss"), show_default=True)
@click.option("--webhook-duplicate", type=float, default=_d("webhook_duplicate"), show_default=True)
@click.option("--webhook-reorder", type=float, default=_d("webhook_reorder"), show_default=True)
@click.option(
    "--webhook-reorder-delay", type=float, default=_d("webhook_reorder_delay_s"), show_default=True
)
@click.option("--webhook-timeout", type=float, default=_d("webhook_timeout_s"), show_default=True)
@click.option(
    "--webhook-retry-scale",
    type=float,
    default=_d("webhook_retry_scale"),
    show_default=True,
    help="Multiplies the retry schedule (5 s doubling, 72 h): 0.001 runs 72 h in 259 s.",
)
@click.option(
    "--webhook-retry-for",
    type=float,
    default=_d("webhook_retry_for_s"),
    show_default=True,
    help="Seconds (before scaling) a failed delivery is retried; 0: never.",
)
@click.option("--api-key", default=None, help="Accept only this key (default: any key).")
@click.option("--seed", type=int, default=_d("seed"), show_default=True)
@click.option(
    "--deterministic-ids",
    is_flag=True,
    help="Ids from the seed alone, the same in every run (default: unique per instance).",
)
@click.option("--metadata-key", default=_d("metadata_key"), show_default=True)
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level.")
def mock(**options: Any) -> None:
    """Serve an OpenAI-compatible mock (Assistants runs, background responses) for rehearsals.

    The first line printed is its base URL; every option is one MockConfig field
    (docs/mock.md).
    """
    if not _MOCK_AVAILABLE:
        raise click.ClickException("the mock needs the extra: pip install 'batchpoll[mock]'")
    from ..mock._server import serve_forever

    host, port, log_level = options.pop("host"), options.pop("port"), options.pop("log_level")
    try:
        config = MockConfig(
            rpm=options["rpm"],
            burst=options["burst"],
            class_rpm=_pairs(options["class_rpm"], "--class-rpm"),
            class_burst=_pairs(options["class_burst"], "--class-burst"),
            rate_schedule=_schedule(options["rate_step"]),
            header_semantics=options["header_semantics"],
            rpd=options["rpd"],
            quota_exhausted_after=options["quota_exhausted_after"],
            tpm=options["tpm"],
            model_tpm=_pairs(options["model_tpm"], "--model-tpm"),
            duration_median_s=options["duration_median"],
            duration_sigma=options["duration_sigma"],
            queue_delay_s=options["queue_delay"],
            fail_rate=options["fail_rate"],
            incomplete_rate=options["incomplete_rate"],
            tool_rate=options["tool_rate"],
            tool_repeat_rate=options["tool_repeat_rate"],
            max_tool_rounds=options["max_tool_rounds"],
            tool_name=options["tool_name"],
            parallel_calls_rate=options["parallel_calls_rate"],
            action_expiry_s=options["action_expiry"],
            run_expiry_s=options["run_expiry"],
            cancel_delay_s=options["cancel_delay"],
            batch_validating_s=options["batch_validating"],
            batch_in_progress_s=options["batch_in_progress"],
            batch_finalizing_s=options["batch_finalizing"],
            batch_window_s=options["batch_window"],
            batch_line_fail_rate=options["batch_line_fail_rate"],
            batch_expire_rate=options["batch_expire_rate"],
            batch_expire_nth=options["batch_expire_nth"],
            batch_expire_share=options["batch_expire_share"],
            batch_queue_tokens=options["batch_queue_tokens"],
            fine_tune_duration_s=options["fine_tune_duration"],
            fine_tune_fail_rate=options["fine_tune_fail_rate"],
            file_batch_duration_s=options["file_batch_duration"],
            poll_after_ms=options["poll_after_ms"],
            model=options["model"],
            latency_ms=options["latency_ms"],
            latency_jitter_ms=options["latency_jitter_ms"],
            error_rate=options["error_rate"],
            disconnect_rate=options["disconnect_rate"],
            disconnect_after_processing=not options["disconnect_before_processing"],
            slow_rate=options["slow_rate"],
            slow_ms=options["slow_ms"],
            malformed_rate=options["malformed_rate"],
            fault_windows=_windows(options["fault_window"]),
            webhook_url=options["webhook_url"],
            webhook_secret=options["webhook_secret"] if options["webhook_url"] else None,
            webhook_delay_s=options["webhook_delay"],
            webhook_delay_jitter_s=options["webhook_delay_jitter"],
            webhook_loss=options["webhook_loss"],
            webhook_duplicate=options["webhook_duplicate"],
            webhook_reorder=options["webhook_reorder"],
            webhook_reorder_delay_s=options["webhook_reorder_delay"],
            webhook_timeout_s=options["webhook_timeout"],
            webhook_retry_scale=options["webhook_retry_scale"],
            webhook_retry_for_s=options["webhook_retry_for"],
            api_key=options["api_key"],
            seed=options["seed"],
            deterministic_ids=options["deterministic_ids"],
            metadata_key=options["metadata_key"],
        )
    except ConfigurationError as exc:
        raise click.UsageError(str(exc)) from None

    def announce(base_url: str) -> None:
        click.echo(f"batchpoll mock listening on {base_url}")
        sys.stdout.flush()

    try:
        serve_forever(config, host, port, announce=announce, log_level=log_level)
    except OSError as exc:  # e.g. the port is taken
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
