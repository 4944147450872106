"""Ids are unique across mock instances by default; ``deterministic_ids`` keeps them per seed."""

from __future__ import annotations

import pytest

from batchpoll.mock import MockConfig

from .conftest import MockFactory

pytestmark = pytest.mark.looptime


async def ids_of(make_mock: MockFactory, deterministic: bool) -> list[str]:
    mock = make_mock(MockConfig(seed=3, deterministic_ids=deterministic))
    thread = await mock.http.post("/v1/threads", json={})
    response = await mock.http.post("/v1/responses", json={"model": "m", "input": "x"})
    return [
        thread.json()["id"],
        thread.headers["x-request-id"],
        response.json()["id"],
        response.json()["output"][0]["id"],
        response.headers["x-request-id"],
    ]


async def test_two_instances_with_one_seed_share_no_id(make_mock: MockFactory) -> None:
    first, second = await ids_of(make_mock, False), await ids_of(make_mock, False)
    assert not set(first) & set(second)
    assert first[1].startswith("req_")
    assert len(first[1]) == 36  # like OpenAI's: 32 hex digits


async def test_deterministic_ids_repeat_per_seed(make_mock: MockFactory) -> None:
    first = await ids_of(make_mock, True)
    assert first == await ids_of(make_mock, True)
    assert first[1] == "req_" + "0" * 23 + "1"
