"""Caps on a check gap from what a job can lose while nobody looks.

A background response created without an explicit ``store=true`` is kept about 10 minutes
after it ends, to be polled, then deleted (DESIGN.md §1): a check gap longer than that could
find nothing to read. So such a response is checked at least every ``RETENTION_SHARE`` of
``RETENTION_S``, whatever the schedule or ``max_interval_s`` say. (An Assistants run's own
limits, its ``expires_at`` and its action window, are capped by ``_policy`` and
``_actionwindow``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["RETENTION_S", "RETENTION_SHARE", "retention_gap"]

RETENTION_S = 600.0
RETENTION_SHARE = 0.5


def retention_gap(kind_name: str, params: Mapping[str, Any]) -> float | None:
    """The longest check gap that cannot lose the job's result; None: no such limit."""
    if kind_name == "responses" and params.get("store") is not True:
        return RETENTION_S * RETENTION_SHARE
    return None
