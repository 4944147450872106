"""batchpoll: track thousands of asynchronous OpenAI jobs under one shared rate budget.

async with batchpoll.Poller(client, rpm=1200, tools=[lookup]) as poller:
    job = await poller.create_response(model="gpt-4o-mini", input="What is 2+2?")
    outcome = await job  # the whole chain of tool calls answered, then the reply
"""

from ._backoff import backoff_s
from ._budget import Budget, BudgetSettings, BudgetStats, Priority, Ticket
from ._clock import Clock, LoopClock
from ._errors import (
    AccountRefusedError,
    AuthenticationFailedError,
    BatchpollError,
    ConfigurationError,
    PollerClosedError,
    QuotaExhaustedError,
)
from ._failures import ErrorCode, Failure, FailureKind, Sent, http_code
from ._failures import classify as classify_failure
from ._hints import WebhookSettings
from ._hooks import Hooks
from ._job import Job
from ._log import log as logger
from ._options import PollerOptions
from ._outcome import ErrorInfo, Outcome, Status, Usage
from ._policy import PollSettings
from ._poller import Poller
from ._redisbudget import RedisBudget, RedisSettings
from ._stats import PollerStats
from ._sync import SyncJob, SyncPoller
from ._tokens import RequestTooLargeError, TokenBudget, TokenSettings, TokenStats
from ._tools import ToolSettings
from ._toolspec import Tool, ToolHandler, tool
from ._version import __version__
from .kinds import KindTiming

__all__ = [
    "AccountRefusedError",
    "AuthenticationFailedError",
    "BatchpollError",
    "Budget",
    "BudgetSettings",
    "BudgetStats",
    "Clock",
    "ConfigurationError",
    "ErrorCode",
    "ErrorInfo",
    "Failure",
    "FailureKind",
    "Hooks",
    "Job",
    "KindTiming",
    "LoopClock",
    "Outcome",
    "PollSettings",
    "Poller",
    "PollerClosedError",
    "PollerOptions",
    "PollerStats",
    "Priority",
    "QuotaExhaustedError",
    "RedisBudget",
    "RedisSettings",
    "RequestTooLargeError",
    "Sent",
    "Status",
    "SyncJob",
    "SyncPoller",
    "Ticket",
    "TokenBudget",
    "TokenSettings",
    "TokenStats",
    "Tool",
    "ToolHandler",
    "ToolSettings",
    "Usage",
    "WebhookSettings",
    "__version__",
    "backoff_s",
    "classify_failure",
    "http_code",
    "logger",
    "tool",
]
