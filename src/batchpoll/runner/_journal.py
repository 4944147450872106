"""The run journal: one SQLite row per item, committed at every transition, so that a run killed
at any instant resumes without creating any job twice.

States (see docs/journal.md for what resume does with each):

- ``sending``: a job create (``create_and_run``, ``responses.create``) is about to be sent and
  no id is known yet. Written after the budget granted the request, right before it leaves.
- ``thread``: safe mode: the thread (carrying the item id in its metadata) exists; a run may
  have been created on it, and can be found again with ``runs.list``.
- ``created``: the server ids are recorded: the job exists and is re-tracked by id.
- ``done``: the outcome (the output line) is recorded.

WAL with ``synchronous=NORMAL``: a commit survives the process being killed (the WAL write is
in the OS before ``commit`` returns); only a power loss can drop the last commits. The journal
also records a fingerprint of the input file and of the options that change what is created,
and refuses to resume a different run. A lock file keeps two processes off one journal.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

try:  # POSIX; elsewhere the lock is skipped (one run per journal is then up to the user)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from ._errors import JournalError, JournalMismatchError

__all__ = ["Entry", "Journal", "State"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    line_no INTEGER NOT NULL,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    ids TEXT NOT NULL DEFAULT '{}',
    outcome TEXT
);
"""
_UPSERT = """
INSERT INTO items (key, line_no, state, kind, ids, outcome) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    line_no = excluded.line_no, state = excluded.state, kind = excluded.kind,
    ids = excluded.ids, outcome = excluded.outcome
"""
_VERSION = "1"


class State(StrEnum):
    SENDING = "sending"
    THREAD = "thread"
    CREATED = "created"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    line_no: int
    state: State
    kind: str
    ids: Mapping[str, str]
    outcome: Mapping[str, Any] | None  # the output record, once done


class Journal:
    """Open with ``Journal.open(path, fingerprint)``; every method commits before returning."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock: IO[bytes] | None) -> None:
        self.path = path
        self._db = db
        self._lock = lock

    @classmethod
    def open(cls, path: Path, fingerprint: Mapping[str, str]) -> Journal:
        """Open or create the journal at ``path``. Raises ``JournalError`` when it is unusable,
        locked by another run, or was written for a different input or options."""
        lock = _lock(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                _check_fingerprint(db, path, {"version": _VERSION, **fingerprint})
            except BaseException:
                db.close()
                raise
        except sqlite3.Error as exc:
            _unlock(lock)
            raise JournalError(f"cannot use journal {str(path)!r}: {exc}") from None
        except BaseException:
            _unlock(lock)
            raise
        return cls(path, db, lock)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
        _unlock(self._lock)
        self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        return {entry.key: entry for entry in self._rows()}

    def _rows(self) -> Iterator[Entry]:
        cursor = self._db.execute("SELECT key, line_no, state, kind, ids, outcome FROM items")
        for key, line_no, state, kind, ids, outcome in cursor:
            yield Entry(
                key,
                line_no,
                State(state),
                kind,
                json.loads(ids),
                json.loads(outcome) if outcome is not None else None,
            )

    # --- transitions (each one commits) -------------------------------------------------------

    def sending(self, key: str, line_no: int, kind: str) -> None:
        self._put(key, line_no, State.SENDING, kind, {}, None)

    def thread(self, key: str, line_no: int, kind: str, thread_id: str) -> None:
        self._put(key, line_no, State.THREAD, kind, {"thread_id": thread_id}, None)

    def created(self, key: str, line_no: int, kind: str, ids: Mapping[str, str]) -> None:
        self._put(key, line_no, State.CREATED, kind, ids, None)

    def continued(self, key: str, ids: Mapping[str, str]) -> None:
        """The item's job goes on as a new server object (the next response of a chain): a
        resume tracks that one, not the response whose tool calls were already answered."""
        self._db.execute(
            "UPDATE items SET ids = ? WHERE key = ? AND state = ?",
            (json.dumps(dict(ids)), key, State.CREATED),
        )

    def done(self, key: str, line_no: int, kind: str, record: Mapping[str, Any]) -> None:
        ids = {k: v for k, v in record.items() if k.endswith("_id") and isinstance(v, str)}
        self._put(key, line_no, State.DONE, kind, ids, record)

    def forget(self, key: str) -> None:
        """The create certainly did not reach the server (refused connection, 429, 4xx)."""
        self._db.execute("DELETE FROM items WHERE key = ? AND state = ?", (key, State.SENDING))

    def forget_sending(self) -> None:
        """Every create still "may have been sent" certainly was not (a run that stopped
        because the API refused its key, or was never reached)."""
        self._db.execute("DELETE FROM items WHERE state = ?", (State.SENDING,))

    def _put(
        self,
        key: str,
        line_no: int,
        state: State,
        kind: str,
        ids: Mapping[str, str],
        outcome: Mapping[str, Any] | None,
    ) -> None:
        self._db.execute(
            _UPSERT,
            (
                key,
                line_no,
                state.value,
                kind,
                json.dumps(dict(ids)),
                json.dumps(outcome, ensure_ascii=False) if outcome is not None else None,
            ),
        )


def _check_fingerprint(db: sqlite3.Connection, path: Path, wanted: Mapping[str, str]) -> None:
    stored = dict(db.execute("SELECT name, value FROM meta").fetchall())
    empty = db.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    if not stored or (empty and stored != wanted):
        # A journal without items (a run that stopped before its first create, e.g. at a
        # wrong base URL) binds nothing: the corrected command starts it afresh.
        db.execute("DELETE FROM meta")
        db.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", wanted.items())
        return
    for name in sorted({*wanted, *stored}, key=lambda n: (n != "input_sha256", n)):
        value = wanted.get(name)
        if stored.get(name) != value:
            what = "the input file changed" if name == "input_sha256" else f"{name} differs"
            if name not in ("input_sha256", "version"):
                what += f" (was {stored.get(name)!r}, now {value!r})"
            raise JournalMismatchError(
                f"journal {str(path)!r} belongs to another run: {what}; rerun the same command "
                "to resume, or pass another --journal (or delete it) to start over"
            )


def _lock(path: Path) -> IO[bytes] | None:
    if fcntl is None:  # pragma: no cover
        return None
    lock_path = path.with_name(path.name + ".lock")
    try:
        handle = lock_path.open("ab")
    except OSError as exc:
        raise JournalError(f"cannot use journal {str(path)!r}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalError(f"journal {str(path)!r} is in use by another batchpoll run") from None
    return handle


def _unlock(handle: IO[bytes] | None) -> None:
    if handle is not None:
        handle.close()  # closing the file releases the flock
