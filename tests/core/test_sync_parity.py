"""``SyncPoller`` at parity with ``Poller``: the same options, the same methods with the same
parameters, and the ones added for the long kinds and the budget work over real sockets."""

from __future__ import annotations

import inspect
import json

import pytest
from openai import AsyncOpenAI

from batchpoll import Poller, PollerOptions, Status, SyncPoller
from batchpoll.mock import MockConfig, running_server

_LIFECYCLE = {"join"}  # both have it; Poller's is a coroutine


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_every_poller_method_has_a_blocking_twin_with_the_same_parameters() -> None:
    sync = _public(SyncPoller)
    for name, signature in _public(Poller).items():
        assert name in sync, f"SyncPoller lacks {name}"
        assert list(signature.parameters) == list(sync[name].parameters), name


def test_every_poller_setting_is_a_read_only_property_of_the_sync_poller_too() -> None:
    def props(cls: type) -> dict[str, object]:
        return {n: m.fget.__annotations__.get("return") for n, m in vars(cls).items()
                if isinstance(m, property)}  # fmt: skip

    assert props(SyncPoller) == props(Poller)


def test_the_options_are_exactly_pollers_keyword_arguments() -> None:
    init = inspect.signature(Poller.__init__).parameters
    keywords = [n for n, p in init.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert list(PollerOptions.__annotations__) == keywords
    for name in keywords:  # the annotations as written (both modules postpone them)
        option = PollerOptions.__annotations__[name]
        written = getattr(option, "__forward_arg__", option)
        assert written == init[name].annotation, name


@pytest.mark.slow
def test_request_track_batch_notify_done_and_join_block_on_the_loop_thread() -> None:
    config = MockConfig(
        rpm=6000,
        batch_validating_s=0.05,
        batch_in_progress_s=0.1,
        batch_finalizing_s=0.05,
        fail_rate=0.0,
        tool_rate=0.0,
    )
    line = {"custom_id": "c0", "method": "POST", "url": "/v1/responses"}
    data = json.dumps({**line, "body": {"model": "m", "input": "q"}}).encode()
    with running_server(config) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-sync")
        with SyncPoller(client, rpm=6000, seed=1) as poller:
            api = poller.client
            upload = poller.request(
                lambda: api.files.create(file=("in.jsonl", data), purpose="batch")
            )
            batch = poller.request(
                lambda: api.batches.create(
                    input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
                )
            )
            for _ in range(500):  # until it has ended: then one check of the tracked job is all
                if poller.request(lambda: api.batches.retrieve(batch.id)).status == "completed":
                    break
            job = poller.track_batch(batch.id, key="b")
            assert not poller.notify_done("batch_unknown")  # kept as a pending hint
            poller.join()
            outcome = job.result(timeout=10)
            assert poller.stats().requests >= 3
    assert outcome.status is Status.COMPLETED
    assert outcome.result is not None
    assert outcome.result["request_counts"]["total"] == 1
