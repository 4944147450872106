"""What a journal binds as a whole: the server and the API key its jobs were created with.

A journal never stores the key: only ``key_fingerprint``, a truncated SHA-256 of the key
salted with the base URL. The input file and the options are not bound (docs/journal.md):
each item that was sent binds its own content (``Item.digest``), the rest may change.

The meta table holds ``version``, ``base_url`` and ``key_fp``, and informational values
(``input``, ``input_items``) that ``batchpoll status`` shows. Format 1 (before 0.x) bound the
input file's SHA-256 and the create options instead; it is upgraded in place when the input
is the one it was written for.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ._errors import JournalMismatchError

__all__ = ["VERSION", "Binding", "check_binding", "key_fingerprint", "public_url"]

VERSION = "2"
_LEGACY = "1"


def public_url(url: str) -> str:
    """A URL without user:password, fit for journals and reports."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def key_fingerprint(base_url: str, api_key: str) -> str:
    """Tells keys apart without keeping them: 64 bits of a SHA-256 salted with the URL."""
    salted = f"batchpoll-journal\n{public_url(base_url)}\n{api_key}".encode()
    return hashlib.sha256(salted).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Binding:
    """The server and key of a run, and (for format 1 journals only) the input's hash."""

    base_url: str
    key_fp: str
    input_sha256: str = ""

    @classmethod
    def of(cls, base_url: str, api_key: str, input_sha256: str = "") -> Binding:
        url = public_url(base_url)
        return cls(url, key_fingerprint(url, api_key), input_sha256)

    def meta(self) -> dict[str, str]:
        return {"version": VERSION, "base_url": self.base_url, "key_fp": self.key_fp}


def _advice(path: Path) -> str:
    return (
        f"rerun with the server and key of journal {str(path)!r} to resume, or choose another "
        "-o (and --journal) to start over"
    )


def check_binding(db: sqlite3.Connection, path: Path, wanted: Binding) -> bool:
    """Check (or write) the binding; True when the journal is of format 1 and its rows still
    need their digests (``Journal.adopt_digests``). Raises ``JournalMismatchError``."""
    stored: Mapping[str, str] = dict(db.execute("SELECT name, value FROM meta").fetchall())
    bound = db.execute("SELECT COUNT(*) FROM items WHERE digest IS NOT NULL").fetchone()[0]
    version = stored.get("version")
    if not stored:  # a new journal (or one opened only to be read)
        bound = 0
    if version == _LEGACY:
        return _check_legacy(db, path, stored, wanted)
    if version not in (None, VERSION):
        raise JournalMismatchError(
            f"journal {str(path)!r} was written by a newer batchpoll (format {version}); "
            "upgrade batchpoll, or pass another --journal"
        )
    if bound and stored.get("base_url") != wanted.base_url:
        raise JournalMismatchError(
            f"journal {str(path)!r} belongs to another server: base_url differs (was "
            f"{stored.get('base_url')!r}, now {wanted.base_url!r}); {_advice(path)}"
        )
    rejected = stored.get("key_rejected") == "1"
    if bound and stored.get("key_fp") != wanted.key_fp and not rejected:
        raise JournalMismatchError(
            f"journal {str(path)!r} was made with another API key (fingerprint "
            f"{stored.get('key_fp')}, now {wanted.key_fp}): its jobs are visible only to keys "
            "of their project. Use that key; a key the server rejected (revoked) may be "
            f"replaced once that is recorded: run once with it. Or choose another -o "
            "(and --journal) to start over"
        )
    _write(db, wanted.meta(), keep=stored)
    return False


def _check_legacy(
    db: sqlite3.Connection, path: Path, stored: Mapping[str, str], wanted: Binding
) -> bool:
    rows = db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    if rows and stored.get("input_sha256") != wanted.input_sha256:
        raise JournalMismatchError(
            f"journal {str(path)!r} is of an older batchpoll's format, which cannot tell which "
            "lines changed: rerun once with the input it was written for (it is then upgraded "
            "and edits are allowed), or choose another -o (and --journal) to start over"
        )
    if rows and stored.get("base_url", "") not in ("", wanted.base_url):
        raise JournalMismatchError(
            f"journal {str(path)!r} belongs to another server: base_url differs (was "
            f"{stored.get('base_url')!r}, now {wanted.base_url!r}); {_advice(path)}"
        )
    _write(db, wanted.meta(), keep={})
    return bool(rows)


def _write(db: sqlite3.Connection, meta: Mapping[str, str], keep: Mapping[str, str]) -> None:
    values = {k: v for k, v in keep.items() if k in ("input", "input_items")}
    values.update(meta)
    db.execute("BEGIN")
    db.execute("DELETE FROM meta")
    db.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", values.items())
    db.execute("COMMIT")
