"""A library is silent unless asked: an embedded run writes nothing to stdout or stderr until
the application configures logging (structlog's defaults would print every event)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from tests._virtual import EPOCH

from batchpoll import LoopClock, Poller, Status
from batchpoll.mock import MockConfig, asgi_client, create_app
from batchpoll.runner import ItemDefaults, RunSettings, run_items

pytestmark = pytest.mark.looptime


@pytest.fixture
def unconfigured() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def lookup(query: str, round: int) -> str:
    return f"result {round}: {query}"


async def run_some() -> list[Status]:
    loop = asyncio.get_running_loop()
    app = create_app(
        MockConfig(rpm=600, tool_rate=0.5, fail_rate=0.2, seed=2), clock=lambda: EPOCH + loop.time()
    )
    client = asgi_client(app, api_key="sk-test")
    async with Poller(
        client, rpm=600, tpm=50_000, tools=[lookup], clock=LoopClock(epoch=EPOCH)
    ) as p:
        jobs = [await p.create_response(model="m", input=f"q{i}") for i in range(20)]
        return [(await job).status for job in jobs]


async def test_an_embedded_run_prints_nothing(
    unconfigured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = await run_some()
    assert Status.COMPLETED in statuses
    assert Status.FAILED in statuses
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")


async def test_events_flow_once_the_application_configures_structlog(
    unconfigured: None,
) -> None:
    with structlog.testing.capture_logs() as events:
        await run_some()
    names = {e["event"] for e in events}
    assert {"batchpoll.job.created", "batchpoll.job.finished"} <= names


async def test_an_embedded_bulk_run_prints_nothing(
    unconfigured: None, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``run_items`` is library code too: its run and resume events stay silent."""
    loop = asyncio.get_running_loop()
    app = create_app(MockConfig(rpm=600, fail_rate=0.2, seed=2), clock=lambda: EPOCH + loop.time())
    client = asgi_client(app, api_key="sk-test")
    lines = [json.dumps({"id": f"q{i}", "input": f"question {i}"}) for i in range(10)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\nnot json\n")
    settings = RunSettings(
        tmp_path / "in.jsonl", tmp_path / "out.jsonl", rpm=600, defaults=ItemDefaults(model="m")
    )
    summary = await run_items(settings, client, clock=LoopClock(epoch=EPOCH))
    assert summary.items == 11
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")
