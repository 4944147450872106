"""Tool handlers for ``batchpoll run --tools examples/tools.py``.

Every public top-level function of this file is a tool, by its name. A run that asks for
``lookup`` with the JSON arguments ``{"query": "...", "round": 1}`` gets
``lookup(query="...", round=1)``; a ``str`` result is sent as is, anything else as JSON.
Handlers may be ``async def`` too. Helpers whose names start with ``_`` are not tools.

``lookup`` answers the mock server's tool (``batchpoll mock``, ``batchpoll demo``): its replies
then match ``batchpoll.mock.expected_reply``.
"""

from __future__ import annotations


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


async def word_count(text: str) -> dict[str, int]:
    """An async tool returning JSON (``{"words": 3}``)."""
    return {"words": _count(text)}


def _count(text: str) -> int:
    return len(text.split())
