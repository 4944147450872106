"""The library's logger: structlog, silent until the application configures structlog.

structlog's defaults print every event to stdout, so a library that logs through them writes
into the output of whatever embeds it (a bulk job printing its results, say). batchpoll logs
only once ``structlog.configure`` was called (the CLI does it; so may the application, and
then our dotted events, ``batchpoll.job.finished`` and the like, go wherever it routes them).
While nobody listens, an event costs one check and no allocation. It is public as
``batchpoll.logger``: the runner, the webhooks and extensions log through it too.
"""

from __future__ import annotations

from typing import Any

import structlog

__all__ = ["log"]


def _drop(*_: Any, **__: Any) -> None:
    return None


class _Logger:
    __slots__ = ()

    def __getattr__(self, method: str) -> Any:
        if not structlog.is_configured():
            return _drop
        return getattr(structlog.get_logger("batchpoll"), method)


log: Any = _Logger()
