"""Shared helpers of the runner tests: the in-process mock on virtual time, input files, output."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from batchpoll import LoopClock
from batchpoll.mock import MockConfig, asgi_client, create_app, expected_reply
from batchpoll.runner import ItemDefaults, RunProgress, RunSettings, RunSummary, run_items
from tests._virtual import EPOCH

API_KEY = "sk-test-secret-4b1d"


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


TOOLS = {"lookup": lookup}


def mock(**config: Any) -> tuple[Any, AsyncOpenAI]:
    loop = asyncio.get_running_loop()
    key = config.pop("client_key", API_KEY)
    client_kwargs = {"timeout": config.pop("client_timeout")} if "client_timeout" in config else {}
    app = create_app(MockConfig(**config), clock=lambda: EPOCH + loop.time())
    return app, asgi_client(app, api_key=key, **client_kwargs)


def prompts(n: int, prefix: str = "p", field: str = "prompt") -> list[dict[str, Any]]:
    """``n`` item lines; ``field="input"`` makes them background responses whatever the
    run's defaults (a ``prompt`` line with an ``--assistant-id`` is an Assistants run)."""
    return [{"id": f"{prefix}{i}", field: f"question {prefix}{i}"} for i in range(n)]


def write_lines(path: Path, lines: Iterable[Any]) -> Path:
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def settings(tmp_path: Path, **kw: Any) -> RunSettings:
    kw.setdefault("rpm", 1200)
    kw.setdefault("defaults", ItemDefaults(assistant_id="asst_1", model="gpt-test"))
    kw.setdefault("seed", 1)
    return RunSettings(tmp_path / "in.jsonl", tmp_path / "out.jsonl", **kw)


async def run(
    s: RunSettings,
    client: AsyncOpenAI,
    *,
    stop_when: Callable[[RunProgress], bool] | None = None,
    progress: list[RunProgress] | None = None,
) -> RunSummary:
    """``stop_when``: set the stop event (as SIGTERM does) once the progress says so."""
    stop = asyncio.Event()
    seen = progress if progress is not None else []

    def on_progress(p: RunProgress) -> None:
        seen.append(p)
        if stop_when is not None and stop_when(p):
            stop.set()

    return await run_items(
        s, client, tools=TOOLS, stop=stop, on_progress=on_progress, clock=LoopClock(epoch=EPOCH)
    )


def reply_ok(prompt: str, text: str | None, max_rounds: int = 3) -> bool:
    """The mock's reply after 0 to ``max_rounds`` rounds of tool calls, each round one call or
    (Responses) two parallel ones, the second asking for ``prompt + " (part 2)"``."""
    answers = []
    for k in range(max_rounds + 1):
        for parallel in itertools.product((False, True), repeat=k):
            outputs = []
            for r, both in enumerate(parallel, start=1):
                outputs.append(lookup(prompt, r))
                if both:
                    outputs.append(lookup(f"{prompt} (part 2)", r))
            answers.append(expected_reply(prompt, outputs))
    return text in answers
