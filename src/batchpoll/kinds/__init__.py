"""Job kinds: one adapter per kind of asynchronous OpenAI job, behind ``JobKind``."""

from ._assistants import AssistantsRuns
from ._base import TERMINAL, Ids, JobKind, Reply, Snapshot, ToolCall
from ._batches import BATCH_ENDPOINTS, BatchJobs, batch_result
from ._file_batches import VectorStoreFileBatches
from ._fine_tuning import FineTuningJobs
from ._responses import ResponsesJobs
from ._timing import KindTiming

__all__ = [
    "BATCH_ENDPOINTS",
    "TERMINAL",
    "AssistantsRuns",
    "BatchJobs",
    "FineTuningJobs",
    "Ids",
    "JobKind",
    "KindTiming",
    "Reply",
    "ResponsesJobs",
    "Snapshot",
    "ToolCall",
    "VectorStoreFileBatches",
    "batch_result",
]
