"""The events the docs name are the events the code emits, both ways (docs drift otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUPS = "job|schedule|budget|tokens|poller|webhook|run|batch"
_FULL = re.compile(rf"`batchpoll\.({GROUPS})\.([a-z_]+)`")
_NAME = re.compile(rf"`(batchpoll\.(?:{GROUPS})\.[a-z_]+|\.[a-z_]+)`")


def documented() -> set[str]:
    """Event names in the docs; ``.retry`` after ``batchpoll.job.created`` is
    ``batchpoll.job.retry``."""
    names: set[str] = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in page.read_text(encoding="utf-8").splitlines():
            group = None
            for match in _NAME.finditer(line):
                token = match.group(1)
                if token.startswith("batchpoll."):
                    full = _FULL.fullmatch(f"`{token}`")
                    assert full is not None
                    group = full.group(1)
                    names.add(token)
                elif group is not None:
                    names.add(f"batchpoll.{group}{token}")
    return names


def emitted() -> set[str]:
    pattern = re.compile(rf'"(batchpoll\.(?:{GROUPS})\.[a-z_]+)"')
    names: set[str] = set()
    for source in (ROOT / "src" / "batchpoll").rglob("*.py"):
        names |= set(pattern.findall(source.read_text(encoding="utf-8")))
    return names


def test_every_documented_event_is_emitted() -> None:
    assert documented() - emitted() == set()


def test_every_emitted_event_is_documented() -> None:
    assert emitted() - documented() == set()


def test_the_checker_expands_short_names() -> None:
    names = documented()
    assert {"batchpoll.job.created", "batchpoll.job.retry", "batchpoll.run.stalled"} <= names
