from __future__ import annotations

import asyncio
import json

import pytest

from batchpoll import ToolSettings
from batchpoll._tools import ToolCallFailed, encode_output, run_tool_calls
from batchpoll.kinds import ToolCall


def call(name: str, args: object, cid: str = "call_1") -> ToolCall:
    return ToolCall(cid, name, json.dumps(args))


def test_encode_output() -> None:
    assert encode_output("plain") == "plain"
    assert encode_output({"a": 1}) == '{"a": 1}'
    assert encode_output(3) == "3"
    assert encode_output(None) == "null"


@pytest.mark.looptime
async def test_sync_and_async_handlers_run_concurrently_in_order() -> None:
    loop = asyncio.get_running_loop()

    async def slow(x: int) -> int:
        await asyncio.sleep(5)
        return x * 2

    def upper(text: str) -> str:
        return text.upper()

    t0 = loop.time()
    out = await run_tool_calls(
        [
            call("slow", {"x": 1}, "a"),
            call("slow", {"x": 2}, "b"),
            call("upper", {"text": "hi"}, "c"),
        ],
        {"slow": slow, "upper": upper},
        ToolSettings(),
    )
    assert out == [("a", "2"), ("b", "4"), ("c", "HI")]
    assert loop.time() - t0 < 6  # both slow calls overlapped


@pytest.mark.looptime
async def test_errors_are_reported_or_fail_the_job() -> None:
    def boom(**_: object) -> str:
        raise RuntimeError("kaput")

    async def hang() -> str:
        await asyncio.sleep(10_000)
        return "never"

    handlers = {"boom": boom, "hang": hang}
    out = await run_tool_calls(
        [call("boom", {}, "a"), call("hang", {}, "b"), ToolCall("c", "boom", "not json")],
        handlers,
        ToolSettings(timeout_s=3),
    )
    texts = [json.loads(o)["error"] for _, o in out]
    assert "RuntimeError: kaput" in texts[0]
    assert "timeout" in texts[1]
    assert "not JSON" in texts[2]
    with pytest.raises(ToolCallFailed) as failed:
        await run_tool_calls([call("boom", {})], handlers, ToolSettings(on_error="fail"))
    assert failed.value.error.type == "tool_error"


async def test_unknown_tool_fails_clearly() -> None:
    with pytest.raises(ToolCallFailed) as failed:
        await run_tool_calls([call("nope", {})], {}, ToolSettings())
    assert failed.value.error.type == "unknown_tool"
    assert "nope" in failed.value.error.message
