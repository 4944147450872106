"""Input lines → items: parse and validate one JSON object per line, without sending anything.

Shapes (one JSON object per line, ``id`` optional, defaulting to the line number):

- ``input`` → a new background response (``responses.create``), or a run with ``--kind assistants``;
- ``prompt`` or ``messages`` → a background response too, unless ``--kind assistants`` or an
  assistant id (the line's ``assistant_id`` or ``--assistant-id``) makes it a legacy Assistants
  run (``threads.create_and_run``);
- ``thread_id`` + ``run_id`` / ``response_id`` → track a job that already exists.

A line that cannot become an item is a ``BadLine`` (an error outcome naming its line number);
the others still run. Duplicate ids are the one problem that stops everything: which line's
result would the output hold? ``scan_input`` finds them before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from .. import ErrorCode, ErrorInfo
from ._errors import InputError, InputUnreadableError

__all__ = [
    "ITEM_METADATA_KEY",
    "BadLine",
    "InputScan",
    "Item",
    "ItemDefaults",
    "content_digest",
    "iter_items",
    "parse_line",
    "scan_input",
]

Kind = Literal["assistants", "responses"]
Action = Literal["create", "track"]

#: Metadata key carrying the item id on every create (run, thread, response): it finds a run
#: again after a crash, and lets a server count creates per item.
ITEM_METADATA_KEY = "batchpoll_item"
_MAX_METADATA_VALUE = 512  # the API's limit for a metadata value
_EMPTY: Mapping[str, Any] = MappingProxyType({})

_PASS_THROUGH = ("instructions", "model")
_CREATE_KEYS = {"id", "prompt", "messages", "input", "assistant_id", "metadata", "params"}
_CREATE_KEYS.add("duration_hint_s")  # the poller's prior for the job's duration
_CREATE_KEYS.update(_PASS_THROUGH)
_TRACK_KEYS = {"id", "thread_id", "run_id", "response_id"}
# Responses create parameters a line may give at the top level (any other goes in 'params').
_RESPONSES_KEYS = frozenset(
    {
        "background",
        "conversation",
        "include",
        "max_output_tokens",
        "max_tool_calls",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt_cache_key",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)


@dataclass(frozen=True, slots=True)
class ItemDefaults:
    """Command-line defaults for lines that leave them out (``--kind``, ``--assistant-id``,
    ``--model``)."""

    kind: Kind | None = None
    assistant_id: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One unit of work. ``params`` are complete create parameters (for Assistants in the
    ``create_and_run`` shape, metadata with the item id included); ``ids`` are the server ids
    of a job to track; ``digest`` identifies the line's content (its JSON object, whatever
    the spacing or key order): the journal keeps it for items that were sent, to tell a line
    edited since it ran."""

    key: str
    line_no: int
    kind: Kind
    action: Action
    params: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    ids: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    digest: str = ""
    hint_s: float | None = None  # the line's duration_hint_s (Poller.create's)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that cannot run; it becomes an ``error`` outcome of type ``bad_input``."""

    line_no: int
    key: str
    error: ErrorInfo


class _Bad(Exception):
    pass


def _key_of(line_no: int, obj: Mapping[str, Any]) -> str:
    raw = obj.get("id")
    if raw is None:
        return str(line_no)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _Bad("'id' must be a string or an integer")
    key = str(raw)
    if not key:
        raise _Bad("'id' must not be empty")
    if len(key) > _MAX_METADATA_VALUE:
        raise _Bad(f"'id' is longer than {_MAX_METADATA_VALUE} characters")
    return key


def _metadata(obj: Mapping[str, Any], key: str) -> dict[str, str]:
    raw = obj.get("metadata") or {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise _Bad("'metadata' must be an object of string values")
    return {**raw, ITEM_METADATA_KEY: key}  # ours wins: it is how resume finds the run


def _messages(obj: Mapping[str, Any]) -> list[Any]:
    if "prompt" in obj and "messages" in obj:
        raise _Bad("give either 'prompt' or 'messages', not both")
    if "prompt" in obj:
        prompt = obj["prompt"]
        if not isinstance(prompt, str) or not prompt:
            raise _Bad("'prompt' must be a non-empty string")
        return [{"role": "user", "content": prompt}]
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise _Bad("'messages' must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise _Bad("each message needs 'role' and 'content'")
    return messages


def _input_as_messages(value: Any) -> list[Any]:
    if isinstance(value, str) and value:
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value:
        return _messages({"messages": value})
    raise _Bad("'input' must be a non-empty string or list of messages for --kind assistants")


def _extra_params(obj: Mapping[str, Any]) -> dict[str, Any]:
    raw = obj.get("params") or {}
    if not isinstance(raw, dict):
        raise _Bad("'params' must be an object")
    return dict(raw)


def _create(line_no: int, key: str, obj: Mapping[str, Any], defaults: ItemDefaults) -> Item:
    unknown = sorted(set(obj) - _CREATE_KEYS - _RESPONSES_KEYS)
    if unknown:
        raise _Bad(f"unknown field(s) {', '.join(map(repr, unknown))} (use 'params' for others)")
    has_input = "input" in obj
    if has_input and ("prompt" in obj or "messages" in obj):
        raise _Bad("give either 'input' or 'prompt'/'messages', not both")
    kind: Kind | None = defaults.kind
    if kind is None:
        for_assistant = not has_input and ("assistant_id" in obj or defaults.assistant_id)
        kind = "assistants" if for_assistant else "responses"
    metadata = _metadata(obj, key)
    extra = _extra_params(obj)
    hint = obj.get("duration_hint_s")
    if hint is not None and (
        isinstance(hint, bool) or not isinstance(hint, int | float) or not hint > 0
    ):
        raise _Bad("'duration_hint_s' must be a number of seconds > 0")
    top = sorted(_RESPONSES_KEYS & set(obj))
    if top and kind != "responses":
        raise _Bad(f"{', '.join(map(repr, top))}: Responses parameters; use 'params' for runs")
    extra.update({name: obj[name] for name in top})
    passed = {name: obj[name] for name in _PASS_THROUGH if obj.get(name) is not None}
    if kind == "responses":
        model = passed.pop("model", None) or defaults.model
        if not model:
            raise _Bad("no model: add 'model' to the line or pass --model")
        if "assistant_id" in obj:
            raise _Bad("'assistant_id' is for Assistants runs, not responses")
        value = obj["input"] if has_input else _messages(obj)
        if "prompt" in obj:
            value = obj["prompt"]
        if extra.get("store") is False:
            raise _Bad("'store': false: background responses must be stored to be polled")
        if extra.get("background") is False:
            raise _Bad("'background': false: batchpoll runs background responses")
        params = {**extra, **passed, "model": model, "input": value, "metadata": metadata}
        return Item(key, line_no, "responses", "create", MappingProxyType(params), hint_s=hint)
    assistant_id = obj.get("assistant_id") or defaults.assistant_id
    if not isinstance(assistant_id, str) or not assistant_id:
        raise _Bad("no assistant: add 'assistant_id' to the line or pass --assistant-id")
    messages = _input_as_messages(obj["input"]) if has_input else _messages(obj)
    if "model" not in passed and defaults.model:
        passed["model"] = defaults.model  # overrides the assistant's model, as the line would
    params = {
        **extra,
        **passed,
        "assistant_id": assistant_id,
        "thread": {"messages": messages, "metadata": metadata},
        "metadata": metadata,
    }
    return Item(key, line_no, "assistants", "create", MappingProxyType(params), hint_s=hint)


def _track(line_no: int, key: str, obj: Mapping[str, Any], defaults: ItemDefaults) -> Item:
    unknown = sorted(set(obj) - _TRACK_KEYS)
    if unknown:
        raise _Bad(f"a line that tracks a job takes only ids; unknown {', '.join(unknown)}")
    if "response_id" in obj:
        if "thread_id" in obj or "run_id" in obj:
            raise _Bad("give either 'response_id' or 'thread_id' + 'run_id', not both")
        kind: Kind = "responses"
        ids = {"response_id": obj["response_id"]}
    else:
        if "thread_id" not in obj or "run_id" not in obj:
            raise _Bad("tracking a run needs both 'thread_id' and 'run_id'")
        kind = "assistants"
        ids = {"thread_id": obj["thread_id"], "run_id": obj["run_id"]}
    if not all(isinstance(v, str) and v for v in ids.values()):
        raise _Bad("ids must be non-empty strings")
    if defaults.kind is not None and defaults.kind != kind:
        raise _Bad(f"the line tracks a job of kind {kind}, but --kind is {defaults.kind}")
    return Item(key, line_no, kind, "track", ids=MappingProxyType(ids))


def content_digest(obj: Any) -> str:
    """The digest of a line's JSON value: equal for equal objects, however written."""
    canonical = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def parse_line(line_no: int, text: str, defaults: ItemDefaults) -> Item | BadLine:
    """One input line (without its newline) → an ``Item``, or a ``BadLine`` saying why not."""
    key = str(line_no)
    try:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Bad(f"not JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise _Bad("not a JSON object")
        key = _key_of(line_no, obj)
        if _TRACK_KEYS & (set(obj) - {"id"}):
            item = _track(line_no, key, obj, defaults)
        elif not {"prompt", "messages", "input"} & set(obj):
            raise _Bad(
                "unknown shape: expected 'prompt', 'messages', 'input', "
                "'thread_id' + 'run_id' or 'response_id'"
            )
        else:
            item = _create(line_no, key, obj, defaults)
        return replace(item, digest=content_digest(obj))
    except _Bad as bad:
        return BadLine(line_no, key, ErrorInfo(ErrorCode.BAD_INPUT, f"line {line_no}: {bad}"))


def _lines(path: Path, sha: Any = None) -> Iterator[tuple[int, str | None]]:
    """``(line number, text)`` of each non-blank line; text None when it is not UTF-8."""
    try:
        with path.open("rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if sha is not None:
                    sha.update(raw)
                if not raw.strip():
                    continue
                try:
                    yield line_no, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    yield line_no, None
    except OSError as exc:
        raise InputUnreadableError(
            f"cannot read input {str(path)!r}: {exc.strerror or exc}"
        ) from None


def shard_of(key: str, n: int) -> int:
    """The shard (1 to ``n``) of an item id: a stable hash, the same on every host."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1


def _in(key: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(key, shard[1]) == shard[0]


def iter_items(
    path: Path, defaults: ItemDefaults, shard: tuple[int, int] | None = None
) -> Iterator[Item | BadLine]:
    """Every item of the file (of ``shard`` (k, n) only), lazily, in file order (call
    ``scan_input`` first)."""
    for line_no, text in _lines(path):
        if text is None:
            item: Item | BadLine = BadLine(
                line_no, str(line_no), ErrorInfo(ErrorCode.BAD_INPUT, f"line {line_no}: not UTF-8")
            )
        else:
            item = parse_line(line_no, text, defaults)
        if _in(item.key, shard):
            yield item


@dataclass(frozen=True, slots=True)
class InputScan:
    """What one pass over the input found: enough to plan a run without holding the items."""

    items: int
    bad_lines: int
    sha256: str  # of the file's bytes (a journal of the old format binds it)
    keys: frozenset[str] = frozenset()  # every item's id
    responses: int = 0  # items that create a response: no safe mode finds those again


def scan_input(
    path: Path, defaults: ItemDefaults, shard: tuple[int, int] | None = None
) -> InputScan:
    """Read the whole input once: count items (of ``shard`` only), hash it, and refuse
    duplicate ids (in the whole file)."""
    sha = hashlib.sha256()
    first_line: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    mine: set[str] = set()
    items = bad = responses = 0
    for line_no, text in _lines(path, sha):
        item = parse_line(line_no, text if text is not None else "\x00", defaults)
        if item.key in first_line:
            duplicates.setdefault(item.key, [first_line[item.key]]).append(line_no)
        else:
            first_line[item.key] = line_no
        if not _in(item.key, shard):
            continue
        mine.add(item.key)
        items += 1
        bad += isinstance(item, BadLine)
        responses += isinstance(item, Item) and item.kind == "responses" and item.action == "create"
    if duplicates:
        shown = [
            f"{key!r} on lines {', '.join(map(str, lines))}"
            for key, lines in list(duplicates.items())[:5]
        ]
        more = f" (and {len(duplicates) - 5} more)" if len(duplicates) > 5 else ""
        raise InputError(f"duplicate ids in {path.name}: {'; '.join(shown)}{more}")
    return InputScan(
        items=items,
        bad_lines=bad,
        sha256=sha.hexdigest(),
        keys=frozenset(mine),
        responses=responses,
    )
