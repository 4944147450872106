"""Small shims over the core's public surface, which evolves while the benchmarks stay."""

from __future__ import annotations

from typing import Any

import batchpoll


def poll_settings(**changes: Any) -> batchpoll.PollSettings:
    """``PollSettings`` with those of ``changes`` that the installed core knows."""
    known = set(batchpoll.PollSettings.__dataclass_fields__)
    return batchpoll.PollSettings(**{k: v for k, v in changes.items() if k in known})
