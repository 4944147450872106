"""The mock's deterministic "model": what a job answers, and the text it reads from requests.

Users check their pipeline end to end with :func:`expected_reply`: every completed job's reply
is exactly ``expected_reply(prompt, tool_outputs)``, so a wrong, missing or duplicated output
is visible without any model in the loop.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "called_function",
    "estimate_tokens",
    "expected_reply",
    "message_text",
    "response_input_prompt",
    "tool_arguments",
    "tool_output_for",
]


def expected_reply(prompt: str, tool_outputs: Sequence[str] = ()) -> str:
    """The reply of a completed job.

    ``"echo: " + prompt``, followed by ``" | tools: " + "; ".join(tool_outputs)`` when the run
    received tool outputs (one per round, in the order they were submitted).
    """
    reply = f"echo: {prompt}"
    if tool_outputs:
        reply += " | tools: " + "; ".join(tool_outputs)
    return reply


def tool_arguments(prompt: str, round_number: int, part: int = 1) -> str:
    """The ``arguments`` JSON of call ``part`` (from 1) of round ``round_number`` (from 1).

    ``{"query": prompt, "round": k}``; the second of two parallel calls asks for
    ``prompt + " (part 2)"``, so the two calls of one round are distinguishable while both keep
    to the schema a client declares for ``lookup(query, round)`` (a model sends no argument the
    schema doesn't have).
    """
    query = prompt if part == 1 else f"{prompt} (part {part})"
    return json.dumps({"query": query, "round": round_number})


def tool_output_for(arguments: str) -> str:
    """A canonical output for a mock tool call: ``"result <round>: <query>"``.

    Any string is accepted as a tool output; this one just makes replies easy to predict.
    """
    args = json.loads(arguments)
    return f"result {args['round']}: {args['query']}"


def called_function(tools: Sequence[Any], preferred: str) -> str | None:
    """The function a job calls: ``preferred`` (``tool_name``) if declared, else the first
    declared function, else None (a job without a function tool never asks for one).

    Accepts both tool shapes: Responses' flat ``{"type": "function", "name": ...}`` and
    Assistants' ``{"type": "function", "function": {"name": ...}}``.
    """
    names: list[str] = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        inner = tool.get("function")
        name = inner.get("name") if isinstance(inner, dict) else tool.get("name")
        if isinstance(name, str) and name:
            names.append(name)
    if preferred in names:
        return preferred
    return names[0] if names else None


def estimate_tokens(text: str) -> int:
    """About four characters per token, at least one: enough for plausible ``usage``."""
    return max(1, math.ceil(len(text) / 4))


def message_text(content: Any) -> str:
    """Text of an Assistants message's ``content`` (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                if isinstance(text, dict):  # the output shape {"value": ...}
                    text = text.get("value")
                if isinstance(text, str):
                    texts.append(text)
    return "\n".join(texts)


def response_input_prompt(raw_input: Any) -> str:
    """The prompt of a Responses request: the ``input`` string, or the last user item's text."""
    if isinstance(raw_input, str):
        return raw_input
    if not isinstance(raw_input, list):
        return ""
    for item in reversed(raw_input):
        if not isinstance(item, dict) or item.get("role") != "user":
            continue
        content = item.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                part["text"]
                for part in content
                if isinstance(part, dict)
                and part.get("type") in ("input_text", "text")
                and isinstance(part.get("text"), str)
            )
    return ""
