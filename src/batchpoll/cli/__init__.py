"""The ``batchpoll`` command line. Needs the ``cli`` extra (click, rich)."""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
