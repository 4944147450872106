"""SyncPoller runs its own loop in a thread, so it meets the mock over real sockets."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from batchpoll import PollSettings, Status, SyncPoller
from batchpoll.mock import MockConfig, expected_reply, running_server

pytestmark = pytest.mark.slow


def test_sync_facade_end_to_end() -> None:
    config = MockConfig(
        rpm=6000,
        duration_median_s=0.3,
        duration_sigma=0.2,
        queue_delay_s=0.05,
        fail_rate=0.0,
        tool_rate=0.0,
    )
    fast = PollSettings(first_check_s=0.3, min_interval_s=0.1, jitter=0.0)
    with running_server(config) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-sync")
        with SyncPoller(client, rpm=6000, poll=fast) as poller:
            jobs = [
                poller.create_and_run(
                    key=f"k{i}",
                    assistant_id="a",
                    thread={"messages": [{"role": "user", "content": f"p{i}"}]},
                )
                for i in range(10)
            ]
            response = poller.create_response(model="m", input="r")
            outcomes = list(poller.as_completed(jobs))
            assert response.result(timeout=30).output_text == expected_reply("r")
            assert poller.stats().done == 11
    assert sorted(o.key for o in outcomes) == sorted(f"k{i}" for i in range(10))
    for outcome in outcomes:
        assert outcome.status is Status.COMPLETED
        assert outcome.output_text == expected_reply(f"p{outcome.key[1:]}")
