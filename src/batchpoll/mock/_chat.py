"""A chat completion, answered at once: the body a batch line for ``/v1/chat/completions``
gets. The reply is the same deterministic ``expected_reply`` as every other job's, of the
last user message's text; no tool calls, no streaming.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._apierror import bad_request
from ._reply import estimate_tokens, expected_reply, message_text
from ._requests import reject_stream

__all__ = ["chat_completion", "chat_prompt"]


def chat_prompt(messages: Any) -> str:
    """The text of the last user message (what the mock's "model" echoes)."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message_text(message.get("content"))
    return ""


def chat_completion(body: Mapping[str, Any], now: float, completion_id: str) -> dict[str, Any]:
    """The ``chat.completion`` object for ``body`` (``ApiError`` 400 when it is invalid)."""
    reject_stream(body)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("Missing required parameter: 'model'.", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("Missing required parameter: 'messages'.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise bad_request(f"Invalid 'messages[{i}]': expected an object with a 'role'.")
    prompt = chat_prompt(messages)
    reply = expected_reply(prompt)
    prompt_tokens = sum(
        estimate_tokens(message_text(m.get("content"))) for m in messages if isinstance(m, Mapping)
    )
    completion_tokens = estimate_tokens(reply)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": math.floor(now),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply,
                    "refusal": None,
                    "annotations": [],
                },
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }
