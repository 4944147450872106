"""Exceptions of the bulk runner: each one ends a run before (or instead of) doing work, with a
one-line message fit for a terminal. Problems of single items are outcomes, not exceptions.

The command line maps them to exit codes: a problem the user fixes in the command or the input
is a usage error (2); one with the environment (files, network, key) is fatal (4).
"""

from __future__ import annotations

from .. import BatchpollError

__all__ = [
    "InputError",
    "InputUnreadableError",
    "JournalError",
    "JournalMismatchError",
    "ToolsError",
    "UnreachableError",
]


class InputError(BatchpollError):
    """The input cannot be used as a whole (duplicate ids; an output file that is not ours).
    Nothing was sent."""


class InputUnreadableError(InputError):
    """The input (or output) file cannot be read or written."""


class JournalError(BatchpollError):
    """The journal cannot be used: unreadable, or locked by another run."""


class JournalMismatchError(JournalError):
    """The journal belongs to another run: a different input file or create options."""


class ToolsError(BatchpollError):
    """The ``--tools`` file or module cannot be loaded, or defines no tool function."""


class UnreachableError(BatchpollError):
    """No request ever reached the server (connection refused, unknown host, ...)."""
