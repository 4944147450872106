"""How many tokens a Responses create or continuation will be charged, before it is sent.

OpenAI's rate limiter charges a request at the moment it arrives, from an estimate: about four
characters per token of the input, plus ``max_output_tokens`` (its docs: the limit counts the
maximum output plus the estimated input). The final ``usage`` is not what the limiter counted.
So the budget reserves the same kind of estimate, by one fixed rule:

    text  = the strings of ``input`` (a string; or for a list, of each message item, one whose
            ``type`` is ``"message"`` or absent: its ``content`` string or the ``"text"`` of its
            parts; and of each ``function_call_output``: its ``output``, a string or parts),
            then ``instructions``, then, when ``tools`` is not empty,
            ``json.dumps(tools, separators=(",", ":"), ensure_ascii=False)``
    chars = the sum of ``len()`` of those strings (Python code points)
    estimate = ceil(chars / 4) + max_output_tokens (0 when absent)

Images, files and other parts count nothing; a continuation counts only what it sends, not the
chain the server prepends through ``previous_response_id`` (the server's headers correct that
where it sends them, ``usage`` where it does not: see ``_tokens``). The mock server charges
exactly this rule (by its own copy: the core never imports the mock).

With the optional ``tokens`` extra (tiktoken) installed, the text is counted with the model's
encoding instead of chars / 4, summed over the same strings. tiktoken downloads encodings on
first use; offline that fails (or, behind a firewall that drops packets, could hang: tiktoken
sets no timeout). So the encoding is loaded once per name, in a daemon thread given
``_LOAD_TIMEOUT_S``; if it fails or is late, the rule above applies for the rest of the process
(one debug log, no error).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._log import log

__all__ = ["estimate_tokens", "request_texts", "text_counter"]


_LOAD_TIMEOUT_S = 2.0
_DEFAULT_ENCODING = "o200k_base"  # the encoding of every current OpenAI model (gpt-4o on)

Counter = Callable[[str], int]

# encoding name -> its counter, or None when it cannot be loaded here. Guarded by _LOCK.
_COUNTERS: dict[str, Counter | None] = {}
_LOCK = threading.Lock()


def _part_texts(parts: Any) -> Iterator[str]:
    if isinstance(parts, str):
        yield parts
    elif isinstance(parts, list):
        for part in parts:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                yield part["text"]


def request_texts(params: Mapping[str, Any]) -> Iterator[str]:
    """The strings of a Responses request that the estimate counts, in the rule's order."""
    items = params.get("input")
    if isinstance(items, str):
        yield items
    elif isinstance(items, list):
        for item in items:
            if not isinstance(item, Mapping):
                continue
            if item.get("type") == "function_call_output":
                yield from _part_texts(item.get("output"))
            elif item.get("type", "message") == "message":
                yield from _part_texts(item.get("content"))
    instructions = params.get("instructions")
    if isinstance(instructions, str):
        yield instructions
    tools = params.get("tools")
    if tools:
        yield json.dumps(tools, separators=(",", ":"), ensure_ascii=False, default=str)


def _max_output(params: Mapping[str, Any]) -> int:
    value = params.get("max_output_tokens")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def estimate_tokens(params: Mapping[str, Any], *, count: Counter | None = None) -> int:
    """The tokens the request will be charged (see the module docstring for the rule).

    ``count`` counts one string's tokens; None uses the model's tiktoken encoding when it is
    available offline, else chars / 4 over the whole text.
    """
    if count is None:
        model = params.get("model")
        count = text_counter(model if isinstance(model, str) else None)
    texts = request_texts(params)
    if count is None:
        text_tokens = math.ceil(sum(len(text) for text in texts) / 4)
    else:
        text_tokens = sum(count(text) for text in texts)
    return text_tokens + _max_output(params)


def text_counter(model: str | None = None) -> Counter | None:
    """tiktoken's counter for ``model`` (its default encoding for unknown models), or None
    when the ``tokens`` extra is not installed or the encoding cannot be loaded offline."""
    try:
        import tiktoken
    except ImportError:
        return None
    name = _DEFAULT_ENCODING
    if model:
        with contextlib.suppress(KeyError):
            name = tiktoken.encoding_name_for_model(model)
    with _LOCK:
        if name in _COUNTERS:
            return _COUNTERS[name]
        counter = _load(tiktoken, name)
        _COUNTERS[name] = counter
        return counter


def _load(tiktoken: Any, name: str) -> Counter | None:
    """Load one encoding in a daemon thread, waiting at most ``_LOAD_TIMEOUT_S``."""
    box: list[Any] = []

    def load() -> None:
        try:
            box.append(tiktoken.get_encoding(name))
        except BaseException as exc:  # network, hash mismatch, anything: fall back
            box.append(exc)

    thread = threading.Thread(target=load, name="batchpoll-tiktoken", daemon=True)
    thread.start()
    thread.join(_LOAD_TIMEOUT_S)
    if not box:
        log.debug("batchpoll.tokens.tiktoken_unavailable", encoding=name, reason="timeout")
        return None
    result = box[0]
    if isinstance(result, BaseException):
        reason = f"{type(result).__name__}: {result}"[:200]
        log.debug("batchpoll.tokens.tiktoken_unavailable", encoding=name, reason=reason)
        return None
    encode = result.encode

    def count(text: str) -> int:
        # disallowed_special=(): a prompt that quotes "<|endoftext|>" is text, not an error.
        return len(encode(text, disallowed_special=()))

    return count
