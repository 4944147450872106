"""Markdown output: tables, sections, and the result files (latest + a dated copy)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._env import RESULTS, machine


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; the first column left-aligned, the others right-aligned."""
    align = [":---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{suffix}"


IMG = "@IMG@/"  # prefix of image links in section markdown: resolved per output file


def image(name: str, alt: str) -> str:
    return f"![{alt}]({IMG}{name})"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


@dataclass(slots=True)
class Section:
    """One benchmark's part of the report: markdown text, images, raw figures."""

    key: str  # b1, b2, ...
    markdown: str
    images: list[str] = field(default_factory=list)  # file names inside RESULTS
    data: dict[str, Any] = field(default_factory=dict)


def write(sections: Sequence[Section], set_name: str, elapsed_s: float, latest: bool) -> Path:
    """Write the report of ``sections``; ``latest`` also makes it results/latest.md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = machine()
    head = [
        f"# batchpoll benchmarks — `{set_name}` set",
        "",
        "Produced by `python -m benchmarks " + set_name + "` (see docs/benchmarks.md). "
        "Every server figure comes from the mock (`batchpoll mock`, 127.0.0.1, its own "
        "process); timings on a shared 2-core machine are noisy.",
        "",
        table(["machine", ""], [[k, v] for k, v in info.items()]),
        "",
        f"Wall time of this run: {elapsed_s / 60:.1f} min.",
        "",
    ]
    body = [s.markdown.rstrip() + "\n" for s in sections]
    text = "\n".join(head) + "\n" + "\n".join(body)
    stamp = dt.datetime.now().strftime("%Y-%m-%d-%H%M")
    history = RESULTS / "history"
    history.mkdir(exist_ok=True)
    dated = history / f"{stamp}-{set_name}.md"
    # The dated copy lives one level down; its image links point at the latest images.
    dated.write_text(text.replace(IMG, "../"))
    raw = {"set": set_name, "machine": info, "sections": {s.key: s.data for s in sections}}
    (history / f"{stamp}-{set_name}.json").write_text(json.dumps(raw, indent=1, default=str))
    if latest:
        (RESULTS / "latest.md").write_text(text.replace(IMG, ""))
        (RESULTS / "latest.json").write_text(json.dumps(raw, indent=1, default=str))
    return RESULTS / "latest.md" if latest else dated
