"""OpenAI's cursor lists: ``order``, ``limit``, ``after``, ``before`` → one page."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ._apierror import bad_request

__all__ = ["list_object", "paginate"]

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def paginate(
    items: Sequence[T],
    item_id: Callable[[T], str],
    query: Mapping[str, str],
    keep: Callable[[T], bool] = lambda _: True,
    *,
    default_limit: int = DEFAULT_LIMIT,
    max_limit: int = MAX_LIMIT,
) -> tuple[list[T], bool]:
    """One page of ``items`` (given oldest first) and whether more follow it.

    Cursors are positions in the unfiltered list, so ``after=<a user message>`` still works with
    a ``run_id`` filter. ``before`` returns the items just before the cursor, in list order.
    """
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(f"Invalid value for 'order': expected 'asc' or 'desc', got {order!r}.")
    raw_limit = query.get("limit", str(default_limit))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise bad_request(
            f"Invalid 'limit': expected an integer, got {raw_limit!r}.", "limit"
        ) from None
    if not 1 <= limit <= max_limit:
        raise bad_request(
            f"Invalid 'limit': integer must be between 1 and {max_limit}, got {limit}.", "limit"
        )
    ordered = list(items) if order == "asc" else list(reversed(items))
    positions = {item_id(item): i for i, item in enumerate(ordered)}
    start, stop = 0, len(ordered)
    after, before = query.get("after"), query.get("before")
    if after is not None:
        if after not in positions:
            raise bad_request(
                f"Invalid 'after': no object with id {after!r} in this list.", "after"
            )
        start = positions[after] + 1
    if before is not None:
        if before not in positions:
            raise bad_request(
                f"Invalid 'before': no object with id {before!r} in this list.", "before"
            )
        stop = positions[before]
    window = [item for item in ordered[start:stop] if keep(item)]
    if before is not None and after is None:
        return window[-limit:], len(window) > limit
    return window[:limit], len(window) > limit


def list_object(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
