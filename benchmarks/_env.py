"""Where results go, what machine produced them, and quiet logging for benchmark runs."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import structlog

RESULTS = Path(__file__).resolve().parent / "results"


def quiet() -> None:
    """batchpoll's warnings (budget throttled ...) would drown the progress lines."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the Assistants API notice


def progress(message: str) -> None:
    print(f"[bench {dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _memory_gb() -> str:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return "unknown"


def _load() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return " ".join(f"{x:.2f}" for x in load)


_START_LOAD: list[str] = []


def mark_start() -> None:
    """Note the load average before a run (``machine()`` is called when the results are
    written, at the end, when the run's own load is in the figures)."""
    _START_LOAD[:] = [_load()]


def machine() -> dict[str, str]:
    """The facts that make two result files comparable (or not)."""
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "batchpoll": _version("batchpoll"),
        "openai": _version("openai"),
        "commit": _commit(),
        "load average at start": _START_LOAD[0] if _START_LOAD else "not recorded",
        "load average at end": _load(),
    }
