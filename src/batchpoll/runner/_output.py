"""The output file: one JSON line per item, appended and flushed as each item finishes.

Each item's **last** line is its result. An item settled again (a retry, a fixed line, a
changed line run again) gets a new line appended, never an edit in place, so a kill at any
instant loses no line; on open, the last line of each id is read (an identical one is not
written again: the runner writes every result the journal has, and only those the file lacks
land), and a torn last line (the process was killed mid-write) is cut off.

``close(keep)`` then compacts the file when it holds more than one line for an id, or ids
that are no longer items: a new file with the last line of each id in ``keep``, in the order
they were written, is fsynced and renamed over the old one (atomic: a kill leaves one file
or the other, both complete).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Container, Mapping
from pathlib import Path
from typing import IO, Any

from ._errors import InputError, InputUnreadableError

__all__ = ["OutputWriter"]


def _digest(line: bytes) -> bytes:
    return hashlib.blake2b(line.rstrip(b"\n"), digest_size=16).digest()


class OutputWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: dict[str, tuple[int, bytes]] = {}  # id -> (its last line's index, digest)
        self._lines = 0
        self._file: IO[bytes] | None = None

    @property
    def written(self) -> set[str]:
        return set(self._last)

    def open(self) -> OutputWriter:
        """Read what a previous run wrote, repair a torn tail, and open for appending."""
        try:
            self._recover()
            self._file = self.path.open("ab")
        except OSError as exc:
            raise InputUnreadableError(
                f"cannot write output {str(self.path)!r}: {exc.strerror or exc}"
            ) from None
        return self

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = 0  # bytes up to the end of the last complete, valid line
        for raw in io.BytesIO(data):  # lines end at b"\n" only, as in _compact
            key = _key(raw)
            if raw.endswith(b"\n") and key is not None:
                self._last[key] = (self._lines, _digest(raw))
                self._lines += 1
                good += len(raw)
                continue
            if good + len(raw) == len(data):  # the last line: torn by a kill, drop it
                break
            raise InputError(
                f"output {str(self.path)!r} line {self._lines + 1} is not a batchpoll result; "
                "choose another -o"
            )
        if good < len(data):
            with self.path.open("r+b") as f:
                f.truncate(good)

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append one item's line and flush it; False when it is already the item's last."""
        key = str(record["id"])
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        digest = _digest(line)
        last = self._last.get(key)
        if last is not None and last[1] == digest:
            return False
        assert self._file is not None, "open() first"
        self._file.write(line)
        self._file.flush()  # in the OS now: a killed process loses nothing written
        self._last[key] = (self._lines, digest)
        self._lines += 1
        return True

    def close(self, keep: Container[str] | None = None) -> None:
        """Flush and fsync; then compact if some id has older lines or is not in ``keep``."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        stale = keep is not None and any(key not in keep for key in self._last)
        if self._lines > len(self._last) or stale:
            self._compact(keep)

    def _compact(self, keep: Container[str] | None) -> None:
        wanted = {index for key, (index, _) in self._last.items() if keep is None or key in keep}
        tmp = self.path.with_name(self.path.name + ".compact")
        try:
            with self.path.open("rb") as src, tmp.open("wb") as dst:
                for index, raw in enumerate(src):
                    if index in wanted:
                        dst.write(raw)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise InputUnreadableError(
                f"cannot compact output {str(self.path)!r}: {exc.strerror or exc} (it holds "
                "every result; an item's last line is its result)"
            ) from None
        self._last = {
            key: (rank, digest)
            for rank, (key, (_, digest)) in enumerate(
                sorted(
                    ((k, v) for k, v in self._last.items() if v[0] in wanted),
                    key=lambda kv: kv[1][0],
                )
            )
        }
        self._lines = len(self._last)


def _key(raw: bytes) -> str | None:
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    key = record.get("id") if isinstance(record, dict) else None
    return key if isinstance(key, str) else None


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
