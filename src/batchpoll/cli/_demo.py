"""``batchpoll demo``: the main job end to end on the embedded mock, in under a minute.

It starts the mock on a free local port (requests and tokens per minute enforced as OpenAI
does, lognormal job durations, 3 % failing jobs, 30 % of the background responses asking for one
or two rounds of function calls, some of them two calls at once), writes inputs of varied
length and a tools file to a temporary directory, runs them through the same code path as
``batchpoll run`` (progress bar, summary, report), then shows what the server saw and checks
every completed reply against the mock's deterministic answer.

Default size: 150 items at 1,200 RPM and 50,000 TPM, so that it ends well within a minute.
About 2.8 requests per item are necessary (a create and a check, plus a continuation and a
check per round of tool calls), and the inputs need about as many seconds of the token budget
as of the request budget: both bounds are printed.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from openai import AsyncOpenAI
from rich.console import Console

from ..runner import ItemDefaults, RunSettings, load_tools
from ._execute import configure_logging, execute
from ._progress import print_server_stats

if TYPE_CHECKING:
    from ..mock import MockConfig

__all__ = ["demo", "mock_config"]

_TOOLS_PY = '''"""The demo's tool handler: the mock's `lookup` tool, answered deterministically."""


def lookup(query: str, round: int) -> str:
    """Look a query up (round: which round of tool calls this is)."""
    return f"result {round}: {query}"
'''
_API_KEY = "sk-demo-not-a-secret"
_MODEL = "gpt-4o-mini"
_MAX_ROUNDS = 2


def _prompt(i: int) -> str:
    # 200 to 2,000 characters: the token budget has real work to do.
    filler = " and then some more context" * ((i * 37) % 66 + 6)
    return f"demo question {i}: what is {i} squared?{filler}"


def _write_inputs(directory: Path, items: int) -> Path:
    path = directory / "input.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(items):
            f.write(json.dumps({"id": f"item-{i:05d}", "input": _prompt(i)}) + "\n")
    return path


def _answers(prompt: str) -> set[str]:
    """Every reply the mock may give to ``prompt``: 0 to 2 rounds, each one or two calls."""
    from ..mock import expected_reply

    found = {expected_reply(prompt)}
    for rounds in range(1, _MAX_ROUNDS + 1):
        for mask in range(2**rounds):
            outputs = []
            for k in range(1, rounds + 1):
                out = f"result {k}: {prompt}"
                if mask >> (k - 1) & 1:
                    out += f"; result {k}: {prompt} (part 2)"
                outputs.append(out)
            found.add(expected_reply(prompt, outputs))
    return found


def _verify(input_path: Path, output_path: Path) -> tuple[int, int, list[str]]:
    """(correct, completed, problems): completed replies vs. the mock's expected ones."""
    prompts = {}
    for line in input_path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        prompts[obj["id"]] = obj["input"]
    seen: dict[str, int] = {}
    correct = completed = 0
    for line in output_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        seen[record["id"]] = seen.get(record["id"], 0) + 1
        if record["status"] != "completed":
            continue
        completed += 1
        correct += record["output_text"] in _answers(prompts[record["id"]])
    problems = [f"{key} appears {n} times" for key, n in seen.items() if n != 1]
    problems += [f"{key} is missing" for key in prompts.keys() - seen.keys()]
    return correct, completed, problems


def mock_config(rpm: int, seed: int, tpm: int | None = None) -> MockConfig:
    """The demo's workload: DESIGN.md's, on background responses with function calls."""
    from ..mock import MockConfig

    return MockConfig(
        rpm=rpm,
        tpm=tpm,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=0.3,
        tool_repeat_rate=0.3,
        max_tool_rounds=_MAX_ROUNDS,
        parallel_calls_rate=0.25,
        model=_MODEL,
        seed=seed,
    )


@click.command("demo")
@click.option(
    "--items", type=click.IntRange(min=1), default=150, show_default=True, help="Items to run."
)
@click.option(
    "--rpm",
    type=click.IntRange(min=1),
    default=1200,
    show_default=True,
    help="The mock's requests-per-minute limit, and the run's.",
)
@click.option(
    "--tpm",
    type=click.IntRange(min=1),
    default=50_000,
    show_default=True,
    help="The mock's tokens-per-minute limit, and the run's.",
)
@click.option(
    "--seed", type=int, default=1, show_default=True, help="The mock's draws (durations, tools)."
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "plain", "off"]),
    default="auto",
    show_default=True,
    help="Progress display: a bar on a terminal (auto), plain lines, or none.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    help="Also write the summary and the server's stats as JSON here.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log batchpoll events on stderr.")
def demo(
    items: int,
    rpm: int,
    tpm: int,
    seed: int,
    progress: str,
    report_path: Path | None,
    verbose: bool,
) -> None:
    """Run generated background responses, with tool calls and a token limit, against the
    embedded mock server, with progress and a report."""
    from ..mock import running_server

    configure_logging(logging.INFO if verbose else logging.WARNING)
    console = Console(stderr=True)
    config = mock_config(rpm, seed, tpm)
    with tempfile.TemporaryDirectory(prefix="batchpoll-demo-") as tmp:
        directory = Path(tmp)
        input_path = _write_inputs(directory, items)
        tools_path = directory / "tools.py"
        tools_path.write_text(_TOOLS_PY, encoding="utf-8")
        output_path = directory / "output.jsonl"
        with running_server(config) as server:
            console.print(
                f"[bold]batchpoll demo[/]: {items} background responses with tools at {rpm} RPM "
                f"and {tpm:,} TPM against the mock at {server.base_url}"
            )
            settings = RunSettings(
                input_path=input_path,
                output_path=output_path,
                rpm=rpm,
                tpm=tpm,
                base_url=server.base_url,
                defaults=ItemDefaults(model=_MODEL),
                seed=seed,
            )
            client = AsyncOpenAI(api_key=_API_KEY, base_url=server.base_url, max_retries=0)
            summary = execute(
                settings,
                client,
                load_tools(str(tools_path)),
                progress=progress,  # type: ignore[arg-type]
                console=console,
                secret=None,
                debug=verbose,
                title="batchpoll demo",
            )
            stats: dict[str, Any] = server.state.stats()
        print_server_stats(console, stats, rpm)
        correct, completed, problems = _verify(input_path, output_path)
    necessary = 2 * items + 2 * int(stats.get("continuations", 0))
    request_bound_s = necessary / (rpm / 60.0)
    token_bound_s = max(0, int(stats.get("tokens_charged", 0)) - tpm) / (tpm / 60.0)
    bound_s = max(request_bound_s, token_bound_s)
    failed = summary.by_status.get("failed", 0)
    if failed:
        console.print(
            f"failed {failed}: the mock fails {config.fail_rate:.0%} of its jobs on purpose "
            "(--fail-rate of `batchpoll mock`); their outcomes carry the server's error"
        )
    console.print(
        f"verified: {correct}/{completed} completed replies match the mock's expected reply; "
        f"makespan {summary.elapsed_s:.1f} s vs. the rate-limit bound of ~{bound_s:.0f} s "
        f"({summary.elapsed_s / bound_s:.2f} ×; requests ~{request_bound_s:.0f} s, "
        f"tokens ~{token_bound_s:.0f} s)"
    )
    for problem in problems[:10]:
        console.print(f"[red]problem[/]: {problem}")
    if report_path is not None:
        report = {"summary": summary.as_dict(), "server": stats, "verified": correct}
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    # Success is about results: every item once, every reply right. 429s are shown above; the
    # mock shares this process (and its GIL) with the runner, so it sees arrivals jittered.
    ok = correct == completed and not problems
    if summary.interrupted:
        raise SystemExit(summary.exit_code)
    raise SystemExit(0 if ok else 1)
