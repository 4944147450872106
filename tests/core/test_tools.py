from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

from batchpoll import ToolSettings
from batchpoll._tools import ToolCallFailed, encode_output
from batchpoll._tools import run_tool_calls as _run_tool_calls
from batchpoll._toolspec import ToolHandler, as_tools
from batchpoll.kinds import ToolCall


async def run_tool_calls(
    calls: list[ToolCall], handlers: dict[str, ToolHandler], settings: ToolSettings
) -> list[tuple[str, str]]:
    return await _run_tool_calls(calls, as_tools(handlers), settings)


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


async def test_hung_sync_handlers_neither_starve_later_calls_nor_block_exit() -> None:
    """Real time: a sync handler stuck past its timeout holds its own thread only."""
    release = threading.Event()

    def stuck() -> str:
        release.wait()
        return "late"

    def ok() -> str:
        return "ok"

    try:
        many = [call("stuck", {}, f"s{i}") for i in range(12)]  # more than a default pool
        out = await run_tool_calls(many, {"stuck": stuck}, ToolSettings(timeout_s=0.2))
        assert all("timeout" in json.loads(o)["error"] for _, o in out)
        again = await run_tool_calls([call("ok", {})], {"ok": ok}, ToolSettings(timeout_s=2))
        assert again == [("call_1", "ok")]
    finally:
        release.set()


def test_a_process_with_a_hung_handler_still_exits() -> None:
    script = (
        "import asyncio, time\n"
        "from batchpoll import ToolSettings\n"
        "from batchpoll._tools import run_tool_calls\n"
        "from batchpoll._toolspec import as_tools\n"
        "from batchpoll.kinds import ToolCall\n"
        "def hang():\n    time.sleep(600)\n"
        "asyncio.run(run_tool_calls([ToolCall('a', 'hang', '{}')], as_tools({'hang': hang}),"
        " ToolSettings(timeout_s=0.1)))\n"
        "print('done')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n"
