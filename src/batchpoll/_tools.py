"""A round of tool calls → call the user's tool handlers → the outputs to send back.

Handlers are plain functions or coroutines, called with the tool call's JSON arguments as
keyword arguments, validated against the tool's schema first (``_toolspec``). Sync handlers
run in a worker thread so a slow one never blocks the event loop (and with it every other
job); all calls of one round run concurrently; each has a timeout, because a hung handler
would otherwise let the run expire (or hold its whole chain).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import pydantic

from ._errors import ConfigurationError
from ._failures import ErrorCode
from ._outcome import ErrorInfo
from ._toolspec import Tool
from .kinds import ToolCall

__all__ = ["ToolCallFailed", "ToolSettings", "encode_output", "run_tool_calls"]


class _DaemonThreads(Executor):
    """One daemon thread per sync handler call. A handler that hangs past its timeout keeps
    only its own thread: in the loop's shared pool it would hold a worker for good (a few
    hung calls and every later call, and the loop's DNS lookups, queue behind them), and
    ``asyncio.run`` would wait for it at exit, so the process could never end."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=work, name="batchpoll-tool", daemon=True).start()
        return future


_THREADS = _DaemonThreads()


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """``on_error="report"`` sends a failing handler's error to the model as its output (the
    run goes on and the model can react); ``"fail"`` ends the job with an error outcome.
    ``max_rounds`` bounds the rounds of tool calls one job may ask for: a model that keeps
    calling tools ends with an ``error`` outcome (``max_rounds``) instead of looping for ever."""

    timeout_s: float = 60.0
    on_error: Literal["report", "fail"] = "report"
    max_rounds: int = 10

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ConfigurationError("tool timeout_s must be > 0")
        if self.on_error not in ("report", "fail"):
            raise ConfigurationError("on_error must be 'report' or 'fail'")
        if self.max_rounds < 1:
            raise ConfigurationError("max_rounds must be >= 1")


class ToolCallFailed(Exception):
    """Internal: the job must end with ``error`` (unknown tool, or a failure under 'fail')."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


def encode_output(value: Any) -> str:
    """A str result is sent as is; anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


async def _call_one(spec: Tool, call: ToolCall, settings: ToolSettings) -> str:
    try:
        args = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"arguments are not JSON: {exc.msg}") from exc
    if not isinstance(args, dict):
        raise ValueError("arguments are not a JSON object")
    try:
        args = spec.parse_arguments(args)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"invalid arguments: {problems}") from None
    handler = spec.handler
    with anyio.fail_after(settings.timeout_s):
        if inspect.iscoroutinefunction(handler):
            result = await handler(**args)
        else:
            # Through run_in_executor (not anyio's worker threads): virtual-time loops in tests
            # know about executor futures and keep time in step with the thread. On timeout
            # the thread is abandoned, like any thread that cannot be interrupted.
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(_THREADS, functools.partial(handler, **args))
            if inspect.isawaitable(result):
                result = await result
    return encode_output(result)


async def run_tool_calls(
    calls: Sequence[ToolCall], handlers: Mapping[str, Tool], settings: ToolSettings
) -> list[tuple[str, str]]:
    """Run every call concurrently; ``(tool_call_id, output)`` in the calls' order."""
    for call in calls:
        if call.name not in handlers:
            raise ToolCallFailed(
                ErrorInfo(
                    ErrorCode.UNKNOWN_TOOL,
                    f"the job asked for tool {call.name!r}, which has no handler",
                )
            )
    outputs: list[str] = [""] * len(calls)
    failures: list[ToolCallFailed] = []

    async def one(index: int, call: ToolCall) -> None:
        try:
            outputs[index] = await _call_one(handlers[call.name], call, settings)
        except Exception as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            text = f"tool {call.name!r} failed: {kind}: {exc}".rstrip(": ")
            if settings.on_error == "fail":
                failures.append(ToolCallFailed(ErrorInfo(ErrorCode.TOOL_ERROR, text)))
            outputs[index] = json.dumps({"error": text})

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(one, index, call)
    if failures:
        raise failures[0]
    return [(call.id, out) for call, out in zip(calls, outputs, strict=True)]
