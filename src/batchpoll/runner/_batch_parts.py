"""Batch parts: the items of a ``--via batch`` run split into batch input files, and the
journal of each part's upload, create and collection (a table in the run's journal file).

A part is planned once (its items fixed, in file order) and keeps them on every rerun; items
not in any unfinished part go into new parts. Each step is written before its request leaves
and its id right after, so a rerun knows what may exist on the server:

- ``planned`` → ``uploading`` (the upload may have been sent) → ``uploaded`` (``file_id``)
- → ``creating`` (the create may have been sent) → ``created`` (``batch_id``)
- → ``collected``: the batch ended and its items' results are in the journal (written in
  the same transaction, ``Journal.done_many``).

An expired or cancelled batch's unrun items become the part's next ``attempt``.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ._batch_items import BatchLine
from ._errors import JournalMismatchError

__all__ = ["Part", "PartState", "PartsJournal", "batch_keys_in_flight", "open_parts", "split"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch_parts (
    part INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,
    url TEXT NOT NULL,
    keys TEXT NOT NULL,
    file_id TEXT,
    batch_id TEXT,
    sent_at REAL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (part, attempt)
);
CREATE TABLE IF NOT EXISTS batch_run (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PartState(StrEnum):
    PLANNED = "planned"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    CREATING = "creating"
    CREATED = "created"
    COLLECTED = "collected"


@dataclass(slots=True)
class Part:
    part: int
    attempt: int
    state: PartState
    url: str
    keys: list[str]
    file_id: str | None = None
    batch_id: str | None = None
    sent_at: float | None = None  # wall time of the last upload or create sent (for lookups)
    # Why this attempt exists: "" the first, "expired" the re-submission of an expired or
    # cancelled batch's unrun lines, "queue" the whole part again after token_limit_exceeded.
    reason: str = ""

    @property
    def label(self) -> str:
        return f"{self.part}" if self.attempt == 1 else f"{self.part}.{self.attempt}"


def split(lines: Sequence[BatchLine], max_lines: int, max_bytes: int) -> list[list[BatchLine]]:
    """Consecutive runs of lines of one endpoint, each within both limits."""
    parts: list[list[BatchLine]] = []
    by_url: dict[str, list[BatchLine]] = {}
    for line in lines:
        by_url.setdefault(line.url, []).append(line)
    for group in by_url.values():
        current: list[BatchLine] = []
        size = 0
        for line in group:
            if current and (len(current) >= max_lines or size + line.size > max_bytes):
                parts.append(current)
                current, size = [], 0
            current.append(line)
            size += line.size
        if current:
            parts.append(current)
    return parts


def open_parts(db: sqlite3.Connection) -> int:
    """How many batch parts of a ``--via batch`` run are not collected yet (0 without any):
    a direct run on that journal would not know their items are on the server."""
    exists = db.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'batch_parts'"
    ).fetchone()[0]
    if not exists:
        return 0
    query = "SELECT COUNT(*) FROM batch_parts WHERE state != ?"
    return int(db.execute(query, (PartState.COLLECTED.value,)).fetchone()[0])


def batch_keys_in_flight(db: sqlite3.Connection) -> set[str]:
    """The items of the batch parts not collected yet (``batchpoll status``)."""
    if not open_parts(db):
        return set()
    query = "SELECT keys FROM batch_parts WHERE state != ?"
    rows = db.execute(query, (PartState.COLLECTED.value,))
    return {key for (keys,) in rows for key in json.loads(keys)}


class PartsJournal:
    """The ``batch_parts`` table of a run's journal (its connection, so one transaction can
    also hold the items' results)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(_SCHEMA)

    def run_id(self, base_url: str, key_fp: str) -> str:
        """This journal's batch run id (made once), named in every file and batch it sends.
        Parts in flight bind the server and key too (the journal's own binding counts only
        items that reached the server): another raises ``JournalMismatchError``."""
        stored = dict(self._db.execute("SELECT name, value FROM batch_run").fetchall())
        if "run_id" in stored:
            open_parts = [p for p in self.parts() if p.state is not PartState.COLLECTED]
            moved = stored.get("base_url") != base_url or stored.get("key_fp") != key_fp
            if open_parts and moved:
                raise JournalMismatchError(
                    "this journal has batches in flight on another server or with another API "
                    f"key (was {stored.get('base_url')!r}): rerun with those, or choose another "
                    "-o (and --journal) to start over"
                )
        run_id = stored.get("run_id") or secrets.token_hex(6)
        values = {"run_id": run_id, "base_url": base_url, "key_fp": key_fp}
        self._db.executemany(
            "INSERT OR REPLACE INTO batch_run (name, value) VALUES (?, ?)", values.items()
        )
        return run_id

    def parts(self) -> list[Part]:
        rows = self._db.execute(
            "SELECT part, attempt, state, url, keys, file_id, batch_id, sent_at, reason"
            " FROM batch_parts ORDER BY part, attempt"
        )
        return [
            Part(p, a, PartState(st), url, json.loads(keys), f, b, sent, why)
            for p, a, st, url, keys, f, b, sent, why in rows
        ]

    def plan(self, parts: Iterable[tuple[str, list[str]]], first: int) -> list[Part]:
        """New parts ``(url, keys)``, numbered from ``first``, in one transaction."""
        made = [
            Part(first + i, 1, PartState.PLANNED, url, keys) for i, (url, keys) in enumerate(parts)
        ]
        self._db.execute("BEGIN")
        for part in made:
            self.insert(self._db, part)
        self._db.execute("COMMIT")
        return made

    @staticmethod
    def insert(db: sqlite3.Connection, part: Part) -> None:
        db.execute(
            "INSERT OR REPLACE INTO batch_parts (part, attempt, state, url, keys, file_id, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                part.part,
                part.attempt,
                part.state.value,
                part.url,
                json.dumps(part.keys),
                part.file_id,
                part.reason,
            ),
        )

    def move(self, part: Part, state: PartState, at: float | None = None, **ids: str) -> None:
        """One step of a part, committed before the request it announces leaves (or right
        after the id it records arrived); ``at``: the wall time of a step that sends."""
        part.state = state
        part.file_id = ids.get("file_id", part.file_id)
        part.batch_id = ids.get("batch_id", part.batch_id)
        if state in (PartState.UPLOADING, PartState.CREATING):
            part.sent_at = time.time() if at is None else at
        self._db.execute(
            "UPDATE batch_parts SET state = ?, file_id = ?, batch_id = ?, sent_at = ? "
            "WHERE part = ? AND attempt = ?",
            (state.value, part.file_id, part.batch_id, part.sent_at, part.part, part.attempt),
        )

    @staticmethod
    def collected(part: Part, then: Part | None) -> Callable[[sqlite3.Connection], None]:
        """What ``Journal.done_many`` runs in its transaction: the part collected, and the
        attempt that re-submits its unrun lines planned."""

        def apply(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE batch_parts SET state = ? WHERE part = ? AND attempt = ?",
                (PartState.COLLECTED.value, part.part, part.attempt),
            )
            if then is not None:
                PartsJournal.insert(db, then)

        return apply
