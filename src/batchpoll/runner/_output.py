"""The output file: one JSON line per item, appended and flushed as each item finishes.

Each item appears exactly once, across any number of resumed runs: on open, the ids already
in the file are read (they are not written again), and a torn last line (the process was
killed mid-write) is cut off; the runner then writes the items the journal has as done but the
file lacks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ._errors import InputError, InputUnreadableError

__all__ = ["OutputWriter"]


class OutputWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.written: set[str] = set()
        self._file: IO[str] | None = None

    def open(self) -> OutputWriter:
        """Read what a previous run wrote, repair a torn tail, and open for appending."""
        try:
            self._recover()
            self._file = self.path.open("a", encoding="utf-8")
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
        line_no = 0
        for raw in data.splitlines(keepends=True):
            line_no += 1
            complete = raw.endswith(b"\n")
            try:
                record = json.loads(raw)
                key = record["id"] if isinstance(record, dict) else None
            except (ValueError, KeyError):
                key = None
            if complete and isinstance(key, str):
                self.written.add(key)
                good += len(raw)
                continue
            if good + len(raw) == len(data):  # the last line: torn by a kill, drop it
                break
            raise InputError(
                f"output {str(self.path)!r} line {line_no} is not a batchpoll result; "
                "choose another -o"
            )
        if good < len(data):
            with self.path.open("r+b") as f:
                f.truncate(good)

    def write(self, record: Mapping[str, Any]) -> bool:
        """Append one item's line and flush it (False when the item is already in the file)."""
        key = record["id"]
        if key in self.written:
            return False
        assert self._file is not None, "open() first"
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()  # in the OS now: a killed process loses nothing written
        self.written.add(key)
        return True

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
