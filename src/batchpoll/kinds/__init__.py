"""Job kinds: one adapter per kind of asynchronous OpenAI job, behind ``JobKind``."""

from ._assistants import AssistantsRuns
from ._base import TERMINAL, Ids, JobKind, Reply, Snapshot, ToolCall
from ._responses import ResponsesJobs

__all__ = [
    "TERMINAL",
    "AssistantsRuns",
    "Ids",
    "JobKind",
    "Reply",
    "ResponsesJobs",
    "Snapshot",
    "ToolCall",
]
