"""Bulk runs: a JSONL file of items through one ``Poller``, journaled so that a killed run
resumes without creating any job twice (docs/runner.md, docs/journal.md).

The command line (``batchpoll run``, ``batchpoll demo``) is a thin layer over ``run_items``.
"""

from ._batch_parts import batch_keys_in_flight
from ._batch_settings import BatchSettings
from ._binding import Binding, public_url
from ._entry import run_items
from ._errors import (
    InputError,
    InputUnreadableError,
    JournalError,
    JournalMismatchError,
    ToolsError,
    UnreachableError,
)
from ._items import (
    ITEM_METADATA_KEY,
    BadLine,
    InputScan,
    Item,
    ItemDefaults,
    content_digest,
    parse_line,
    scan_input,
    shard_of,
)
from ._journal import Entry, Journal, State
from ._plan import RETRYABLE
from ._settings import CreateMode, RunSettings
from ._summary import (
    EXIT_FAILED,
    EXIT_FATAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    UNCERTAIN,
    RunProgress,
    RunSummary,
)
from ._tools_loader import load_tools

__all__ = [
    "EXIT_FAILED",
    "EXIT_FATAL",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "ITEM_METADATA_KEY",
    "RETRYABLE",
    "UNCERTAIN",
    "BadLine",
    "BatchSettings",
    "Binding",
    "CreateMode",
    "Entry",
    "InputError",
    "InputScan",
    "InputUnreadableError",
    "Item",
    "ItemDefaults",
    "Journal",
    "JournalError",
    "JournalMismatchError",
    "RunProgress",
    "RunSettings",
    "RunSummary",
    "State",
    "ToolsError",
    "UnreachableError",
    "batch_keys_in_flight",
    "content_digest",
    "load_tools",
    "parse_line",
    "public_url",
    "run_items",
    "scan_input",
    "shard_of",
]
