"""``batchpoll demo``: the main job end to end on the embedded mock, in under a minute.

It starts the mock on a free local port (rate limit quantized per second, lognormal job
durations, 3 % failing runs, 10 % asking for a tool call that expires if not answered), writes
prompts and a tools file to a temporary directory, runs them through the same code path as
``batchpoll run`` (progress bar, summary, report), then shows what the server saw and checks
every completed reply against the mock's deterministic answer.

Default size: 150 items at 1,200 RPM, so that it ends well within a minute. About 3.2 requests
per item are necessary (create, a check, the reply; submit and one more check for tool runs),
so 500 items at 1,200 RPM (20/s) need at least ~80 s: no poller can do that in 60 s. 300 items
(the workload of DESIGN.md's measurements, ``--items 300``) are bounded by ~48 s, too close to
a minute once the tail of the last jobs (~4 s median each) and the start-up are added.
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
from ._progress import print_server_stats
from ._run import configure_logging, execute

if TYPE_CHECKING:
    from ..mock import MockConfig

__all__ = ["demo", "mock_config"]

_TOOLS_PY = '''"""The demo's tool handlers: the mock's `lookup` tool, answered deterministically."""


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"
'''
_API_KEY = "sk-demo-not-a-secret"


def _write_inputs(directory: Path, items: int) -> Path:
    path = directory / "input.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(items):
            line = {"id": f"item-{i:05d}", "prompt": f"demo question {i}: what is {i} squared?"}
            f.write(json.dumps(line) + "\n")
    return path


def _verify(input_path: Path, output_path: Path, max_rounds: int) -> tuple[int, int, list[str]]:
    """(correct, completed, problems): completed replies vs. the mock's expected ones."""
    from ..mock import expected_reply

    prompts = {}
    for line in input_path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        prompts[obj["id"]] = obj["prompt"]
    seen: dict[str, int] = {}
    correct = completed = 0
    for line in output_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        seen[record["id"]] = seen.get(record["id"], 0) + 1
        if record["status"] != "completed":
            continue
        completed += 1
        prompt = prompts[record["id"]]
        answers = [
            expected_reply(prompt, [f"result {r}: {prompt}" for r in range(1, k + 1)])
            for k in range(max_rounds + 1)
        ]
        correct += record["output_text"] in answers
    problems = [f"{key} appears {n} times" for key, n in seen.items() if n != 1]
    problems += [f"{key} is missing" for key in prompts.keys() - seen.keys()]
    return correct, completed, problems


def mock_config(rpm: int, seed: int) -> MockConfig:
    """The demo's workload: that of DESIGN.md's measurements."""
    from ..mock import MockConfig

    return MockConfig(
        rpm=rpm,
        duration_median_s=4.0,
        duration_sigma=0.5,
        fail_rate=0.03,
        tool_rate=0.1,
        action_expiry_s=20.0,
        seed=seed,
    )


@click.command("demo")
@click.option("--items", type=click.IntRange(min=1), default=150, show_default=True)
@click.option("--rpm", type=click.IntRange(min=1), default=1200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--create-mode", type=click.Choice(["fast", "safe"]), default="fast", show_default=True
)
@click.option(
    "--progress",
    type=click.Choice(["auto", "bar", "plain", "off"]),
    default="auto",
    show_default=True,
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
    seed: int,
    create_mode: str,
    progress: str,
    report_path: Path | None,
    verbose: bool,
) -> None:
    """Run generated items against the embedded mock server, with progress and a report."""
    from ..mock import running_server

    configure_logging(logging.INFO if verbose else logging.WARNING)
    console = Console(stderr=True)
    config = mock_config(rpm, seed)
    with tempfile.TemporaryDirectory(prefix="batchpoll-demo-") as tmp:
        directory = Path(tmp)
        input_path = _write_inputs(directory, items)
        tools_path = directory / "tools.py"
        tools_path.write_text(_TOOLS_PY, encoding="utf-8")
        output_path = directory / "output.jsonl"
        with running_server(config) as server:
            console.print(
                f"[bold]batchpoll demo[/]: {items} items at {rpm} RPM against the mock at "
                f"{server.base_url} (work dir {tmp})"
            )
            settings = RunSettings(
                input_path=input_path,
                output_path=output_path,
                rpm=rpm,
                base_url=server.base_url,
                defaults=ItemDefaults(assistant_id="asst_demo"),
                create_mode=create_mode,  # type: ignore[arg-type]
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
            )
            stats: dict[str, Any] = server.state.stats()
        print_server_stats(console, stats, rpm)
        correct, completed, problems = _verify(input_path, output_path, config.max_tool_rounds)
    bound_s = items * 3.2 / (rpm / 60.0)
    console.print(
        f"verified: {correct}/{completed} completed replies match the mock's expected reply; "
        f"makespan {summary.elapsed_s:.1f} s vs. the rate-limit bound of ~{bound_s:.0f} s "
        f"({summary.elapsed_s / bound_s:.2f} ×)"
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
