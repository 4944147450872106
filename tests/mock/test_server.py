"""Real sockets: uvicorn in a thread, and the ``batchpoll mock`` command in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import openai
import pytest

from batchpoll.mock import MockConfig, expected_reply, running_server

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

FAST = MockConfig(duration_median_s=0.2, queue_delay_s=0.05, fail_rate=0.0, tool_rate=0.0)


async def test_sdk_over_a_real_socket() -> None:
    with running_server(FAST) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        client = openai.AsyncOpenAI(
            api_key="k", base_url=server.base_url, max_retries=0, _strict_response_validation=True
        )
        async with client:
            run = await client.beta.threads.create_and_run_poll(
                assistant_id="a",
                thread={"messages": [{"role": "user", "content": "hi"}]},
                poll_interval_ms=50,
            )
            assert run.status == "completed"
            page = await client.beta.threads.messages.list(run.thread_id, run_id=run.id)
            assert page.data[0].content[0].text.value == expected_reply("hi")  # type: ignore[union-attr]
        assert server.state.stats()["creates_total"] == 1


async def test_disconnect_over_a_real_socket() -> None:
    with running_server(MockConfig(disconnect_rate=1.0)) as server:
        client = openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0)
        async with client:
            with pytest.raises(openai.APIConnectionError):
                await client.responses.create(model="m", input="x")
        assert server.state.stats()["requests_by_route"]["POST /v1/responses"] == {"disconnect": 1}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_prints_its_url_serves_and_stops_cleanly(sig: signal.Signals) -> None:
    command = [sys.executable, "-c", "from batchpoll.cli import main; main()"]
    proc = subprocess.Popen(
        [*command, "mock", "--port", "0", "--rpm", "600", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        prefix = "batchpoll mock listening on "
        assert line.startswith(prefix), line
        base_url = line.removeprefix(prefix)
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/v1")
        assert not base_url.endswith(":0/v1")
        request = urllib.request.Request(
            f"{base_url}/responses",
            data=json.dumps({"model": "m", "input": "ping"}).encode(),
            headers={"content-type": "application/json", "authorization": "Bearer k"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.headers["x-ratelimit-limit-requests"] == "600"
            assert json.load(reply)["output"][0]["content"][0]["text"] == expected_reply("ping")
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
