"""Helpers of the command-line tests: the ``batchpoll`` executable against a mock on a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batchpoll.mock import MockConfig

BIN = str(Path(sys.executable).with_name("batchpoll"))
SECRET = "sk-cli-secret-9f3e1c"
TOOLS_PY = 'def lookup(query: str, round: int) -> str:\n    return f"result {round}: {query}"\n'

# Short jobs: a 1,000-item run takes seconds, not minutes.
FAST = {"duration_median_s": 0.3, "duration_sigma": 0.5, "queue_delay_s": 0.05}


def fast_mock(**config: Any) -> MockConfig:
    return MockConfig(**{**FAST, **config})


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    return {**base, "OPENAI_API_KEY": SECRET, **extra}


def run_cmd(tmp_path: Path, base_url: str, *extra: str, mode: str = "fast") -> list[str]:
    tools = tmp_path / "tools.py"
    tools.write_text(TOOLS_PY)
    return [
        BIN,
        "run",
        str(tmp_path / "in.jsonl"),
        "-o",
        str(tmp_path / "out.jsonl"),
        "--base-url",
        base_url,
        "--rpm",
        "30000",
        "--assistant-id",
        "asst_1",
        "--tools",
        str(tools),
        "--create-mode",
        mode,
        *extra,
    ]


def batchpoll(
    args: Sequence[str], *, environ: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args),
        env=environ if environ is not None else env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def wait_for_lines(path: Path, lines: int, timeout_s: float = 60.0) -> int:
    """Block until ``path`` holds at least ``lines`` lines; returns how many it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = path.read_bytes().count(b"\n") if path.exists() else 0
        if n >= lines:
            return n
        time.sleep(0.05)  # real-time ok: polling a subprocess's output file
    raise TimeoutError(f"{path} did not reach {lines} lines")
