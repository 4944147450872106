"""The run journal: one SQLite row per item, committed at every transition, so that a run killed
at any instant resumes without creating any job twice.

States (see docs/journal.md for what resume does with each):

- ``sending``: a job create (``create_and_run``, ``responses.create``) is about to be sent and
  no id is known yet. Written after the budget granted the request, right before it leaves.
- ``thread``: safe mode: the thread (carrying the item id in its metadata) exists; a run may
  have been created on it, and can be found again with ``runs.list``.
- ``created``: the server ids are recorded: the job exists and is re-tracked by id.
- ``continuing``: a chain's next response (the tool outputs of a round) is about to be sent;
  the ids are still those of the response it continues. Like ``sending``, it may or may not
  have been created, and the API cannot tell: resume reports it ``uncertain``.
- ``done``: the outcome (the output line) is recorded.

WAL with ``synchronous=NORMAL``: a commit survives the process being killed (the WAL write is
in the OS before ``commit`` returns); only a power loss can drop the last commits. Each row of
an item that was sent keeps the digest of its line (``digest``; NULL for an item that never
reached the server, which every run evaluates afresh); the journal as a whole binds the server
and the key (``_binding.py``). A lock file keeps two processes off one journal.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

try:  # POSIX; elsewhere the lock is skipped (one run per journal is then up to the user)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

from ._binding import Binding, check_binding
from ._errors import JournalError

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
# A row keeps its digest through later states unless a new one is given (a create of
# another content: a retry, a changed line run again).
_UPSERT = """
INSERT INTO items (key, line_no, state, kind, ids, outcome, digest) VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    line_no = excluded.line_no, state = excluded.state, kind = excluded.kind,
    ids = excluded.ids, outcome = excluded.outcome,
    digest = COALESCE(excluded.digest, items.digest)
"""


class State(StrEnum):
    SENDING = "sending"
    THREAD = "thread"
    CREATED = "created"
    CONTINUING = "continuing"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    line_no: int
    state: State
    kind: str
    ids: Mapping[str, str]
    outcome: Mapping[str, Any] | None  # the output record, once done
    digest: str | None = None  # of the line that was sent; None: it never reached the server

    @property
    def status(self) -> str | None:
        return None if self.outcome is None else str(self.outcome.get("status"))


class Journal:
    """Open with ``Journal.open(path, binding)``; every method commits before returning."""

    def __init__(
        self, path: Path, db: sqlite3.Connection, lock: IO[bytes] | None, legacy: bool = False
    ) -> None:
        self.path = path
        self._db = db
        self._lock = lock
        self.legacy = legacy  # format 1: the rows need their digests (``adopt_digests``)

    @classmethod
    def open(cls, path: Path, binding: Binding | None = None) -> Journal:
        """Open or create the journal at ``path``. Raises ``JournalError`` when it is unusable
        or locked by another run, ``JournalMismatchError`` when it belongs to another server
        or key. Without ``binding`` it is opened as it is, to be read."""
        lock = _lock(path)
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
                if "digest" not in columns:  # format 1
                    db.execute("ALTER TABLE items ADD COLUMN digest TEXT")
                legacy = binding is not None and check_binding(db, path, binding)
            except BaseException:
                db.close()
                raise
        except sqlite3.Error as exc:
            _unlock(lock)
            raise JournalError(f"cannot use journal {str(path)!r}: {exc}") from None
        except BaseException:
            _unlock(lock)
            raise
        return cls(path, db, lock, legacy)

    @classmethod
    def read(cls, path: Path) -> Journal:
        """Open read-only, without the lock (``batchpoll status``, even during a run)."""
        if not path.is_file():
            raise JournalError(f"no journal at {str(path)!r}")
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            columns = {row[1] for row in db.execute("PRAGMA table_info(items)")}
            if not columns:
                raise sqlite3.DatabaseError("no items table")
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read journal {str(path)!r}: {exc}") from None
        return cls(path, db, None, legacy="digest" not in columns)

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT name, value FROM meta").fetchall())

    def set_info(self, **values: str) -> None:
        """Informational meta values (not bound): ``input``, ``input_items``, ``key_rejected``."""
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", values.items()
        )

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
        digest = "digest" if not self.legacy else "NULL"
        cursor = self._db.execute(
            f"SELECT key, line_no, state, kind, ids, outcome, {digest} FROM items"
        )
        for key, line_no, state, kind, ids, outcome, content in cursor:
            yield Entry(
                key,
                line_no,
                State(state),
                kind,
                json.loads(ids),
                json.loads(outcome) if outcome is not None else None,
                content,
            )

    # --- transitions (each one commits) -------------------------------------------------------

    def sending(self, key: str, line_no: int, kind: str, digest: str) -> None:
        self._put(key, line_no, State.SENDING, kind, {}, None, digest)

    def thread(self, key: str, line_no: int, kind: str, thread_id: str, digest: str) -> None:
        self._put(key, line_no, State.THREAD, kind, {"thread_id": thread_id}, None, digest)

    def created(
        self, key: str, line_no: int, kind: str, ids: Mapping[str, str], digest: str | None = None
    ) -> None:
        self._put(key, line_no, State.CREATED, kind, ids, None, digest)

    def continuing(self, key: str) -> None:
        """The next response of the item's chain is about to be created."""
        self._db.execute(
            "UPDATE items SET state = ? WHERE key = ? AND state = ?",
            (State.CONTINUING, key, State.CREATED),
        )

    def continued(self, key: str, ids: Mapping[str, str]) -> None:
        """The item's job goes on as a new server object (the next response of a chain): a
        resume tracks that one, not the response whose tool calls were already answered."""
        self._db.execute(
            "UPDATE items SET ids = ?, state = ? WHERE key = ? AND state IN (?, ?)",
            (json.dumps(dict(ids)), State.CREATED, key, State.CREATED, State.CONTINUING),
        )

    def not_continued(self, key: str) -> None:
        """The continuation certainly did not reach the server: the job is as it was."""
        self._db.execute(
            "UPDATE items SET state = ? WHERE key = ? AND state = ?",
            (State.CREATED, key, State.CONTINUING),
        )

    def done(self, key: str, line_no: int, kind: str, record: Mapping[str, Any]) -> None:
        ids = {k: v for k, v in record.items() if k.endswith("_id") and isinstance(v, str)}
        self._put(key, line_no, State.DONE, kind, ids, record)

    def done_many(
        self,
        rows: Iterable[tuple[str, int, str, Mapping[str, Any], str]],
        then: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        """Many outcomes ``(key, line_no, kind, record, digest)`` in ONE transaction, with
        ``then`` (more SQL on this journal, e.g. a batch part marked collected) in it too: a
        kill leaves all of them or none (``--via batch`` writes a whole batch's results)."""
        self._db.execute("BEGIN")
        try:
            for key, line_no, kind, record, digest in rows:
                ids = {k: v for k, v in record.items() if k.endswith("_id") and isinstance(v, str)}
                self._put(key, line_no, State.DONE, kind, ids, record, digest)
            if then is not None:
                then(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def db(self) -> sqlite3.Connection:
        """The journal's connection, for tables of its own kept in the same file (the batch
        parts of ``--via batch``), so that one transaction can span them."""
        return self._db

    def forget(self, key: str) -> None:
        """The create certainly did not reach the server (refused connection, 429, 4xx)."""
        self._db.execute("DELETE FROM items WHERE key = ? AND state = ?", (key, State.SENDING))

    def forget_sending(self) -> None:
        """Every create still "may have been sent" certainly was not (a run that stopped
        because the API refused its key, or was never reached)."""
        self._db.execute("DELETE FROM items WHERE state = ?", (State.SENDING,))

    def drop(self, keys: Iterable[str]) -> None:
        """Forget items entirely (lines gone from the input that never reached the server, a
        changed line run again as a bad line)."""
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM items WHERE key = ?", ((k,) for k in keys))
        self._db.execute("COMMIT")

    def adopt_digests(self, digests: Mapping[str, str]) -> None:
        """Format 1 upgrade: the digest of each row's line, from the input it was written for
        (rows of lines that never reached the server keep none)."""
        self._db.execute("BEGIN")
        self._db.executemany(
            "UPDATE items SET digest = ? WHERE key = ?", ((d, k) for k, d in digests.items())
        )
        self._db.execute("COMMIT")
        self.legacy = False

    def _put(
        self,
        key: str,
        line_no: int,
        state: State,
        kind: str,
        ids: Mapping[str, str],
        outcome: Mapping[str, Any] | None,
        digest: str | None = None,
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
                digest,
            ),
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
