"""`batchpoll mock` in a subprocess on 127.0.0.1, and its control routes.

The server runs in a process of its own so that the client's CPU does not distort the
server's clock (rate windows, detection lag), as with an independent server.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # never any other address
_LAST_PID: list[int] = []


def last_pid() -> int:
    """Process id of the most recently started mock (to read its CPU time)."""
    return _LAST_PID[-1]


@dataclass(frozen=True, slots=True)
class MockSpec:
    """The `batchpoll mock` flags a benchmark needs (None: the mock's default)."""

    rpm: int | None = None
    duration_median_s: float = 4.0
    duration_sigma: float = 0.5
    fail_rate: float = 0.03
    tool_rate: float = 0.1
    action_expiry_s: float = 20.0
    seed: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)

    def argv(self) -> list[str]:
        args = [
            "--duration-median",
            str(self.duration_median_s),
            "--duration-sigma",
            str(self.duration_sigma),
            "--fail-rate",
            str(self.fail_rate),
            "--tool-rate",
            str(self.tool_rate),
            "--action-expiry",
            str(self.action_expiry_s),
            "--seed",
            str(self.seed),
        ]
        if self.rpm is not None:
            args += ["--rpm", str(self.rpm)]
        for flag, value in self.extra.items():
            args += [flag, value]
        return args


def _mock_command() -> list[str]:
    script = Path(sys.executable).with_name("batchpoll")
    if script.exists():
        return [str(script)]
    found = shutil.which("batchpoll")
    if found is None:
        raise RuntimeError("the batchpoll command is not installed: pip install -e '.[dev]'")
    return [found]


@contextlib.contextmanager
def mock_process(spec: MockSpec) -> Iterator[str]:
    """Start the mock on a free port of 127.0.0.1; yield its base URL (…/v1)."""
    cmd = [*_mock_command(), "mock", "--host", HOST, "--port", "0", *spec.argv()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _LAST_PID.append(proc.pid)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the mock did not start: {' '.join(cmd)}")
        base_url = line.strip().split()[-1]
        if not base_url.startswith(f"http://{HOST}:"):
            raise RuntimeError(f"unexpected mock address {base_url!r}")
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _root(base_url: str) -> str:
    return base_url.removesuffix("/").removesuffix("/v1")


def _call(url: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as reply:
        result: dict[str, Any] = json.load(reply)
    return result


def stats(base_url: str) -> dict[str, Any]:
    return _call(f"{_root(base_url)}/_mock/stats")


def reset(base_url: str, **changes: Any) -> None:
    """Forget every job and statistic (fresh mock state); optionally change settings."""
    _call(f"{_root(base_url)}/_mock/reset", changes)
