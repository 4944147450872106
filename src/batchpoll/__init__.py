"""batchpoll: track thousands of asynchronous OpenAI jobs under one shared rate budget."""

from ._errors import (
    AuthenticationFailedError,
    BatchpollError,
    ConfigurationError,
    PollerClosedError,
)
from ._version import __version__

__all__ = [
    "AuthenticationFailedError",
    "BatchpollError",
    "ConfigurationError",
    "PollerClosedError",
    "__version__",
]
