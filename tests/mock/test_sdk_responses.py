"""The official SDK (strict validation) against the Responses endpoints, on virtual time."""

from __future__ import annotations

import asyncio

import openai
import pytest

from batchpoll.mock import MockConfig, expected_reply

from .conftest import EPOCH, MockFactory

pytestmark = pytest.mark.looptime


async def test_foreground_response_is_answered_at_once(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fail_rate=1.0))  # failures only happen in the background
    response = await mock.client.responses.create(
        model="gpt-4o", input="hello", metadata={"batchpoll_item": "7"}
    )
    assert response.status == "completed"
    assert response.output_text == expected_reply("hello")
    assert response.usage is not None
    assert response.metadata == {"batchpoll_item": "7"}


async def test_background_response_evolves_over_time(make_mock: MockFactory) -> None:
    mock = make_mock(
        MockConfig(fail_rate=0.0, duration_median_s=10, duration_sigma=0, queue_delay_s=1)
    )
    responses = mock.client.responses
    created = await responses.create(model="gpt-4o", input="hi", background=True)
    assert (created.status, created.output, created.created_at) == ("queued", [], EPOCH)
    await asyncio.sleep(1)
    assert (await responses.retrieve(created.id)).status == "in_progress"
    await asyncio.sleep(10)
    done = await responses.retrieve(created.id)
    assert done.status == "completed"
    assert done.output_text == expected_reply("hi")
    assert done.completed_at == EPOCH + 11


async def test_prompt_from_an_input_list(make_mock: MockFactory) -> None:
    mock = make_mock()
    response = await mock.client.responses.create(
        model="gpt-4o",
        input=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
        ],
    )
    assert response.output_text == expected_reply("second")


async def test_failed_and_incomplete(make_mock: MockFactory) -> None:
    failing = make_mock(MockConfig(fail_rate=1.0))
    created = await failing.client.responses.create(model="m", input="x", background=True)
    await asyncio.sleep(60)
    failed = await failing.client.responses.retrieve(created.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "server_error"

    truncating = make_mock(MockConfig(fail_rate=0.0, incomplete_rate=1.0))
    created = await truncating.client.responses.create(model="m", input="abcdef", background=True)
    await asyncio.sleep(60)
    incomplete = await truncating.client.responses.retrieve(created.id)
    assert incomplete.status == "incomplete"
    assert incomplete.incomplete_details is not None
    assert expected_reply("abcdef").startswith(incomplete.output_text)


async def test_cancel(make_mock: MockFactory) -> None:
    mock = make_mock(MockConfig(fail_rate=0.0, duration_median_s=100))
    responses = mock.client.responses
    background = await responses.create(model="m", input="x", background=True)
    cancelled = await responses.cancel(background.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="Cannot cancel"):
        await responses.cancel(background.id)
    foreground = await responses.create(model="m", input="x")
    with pytest.raises(openai.BadRequestError, match="background=true"):
        await responses.cancel(foreground.id)


async def test_unknown_response_is_404(make_mock: MockFactory) -> None:
    mock = make_mock()
    with pytest.raises(openai.NotFoundError):
        await mock.client.responses.retrieve("resp_nope")


async def test_streaming_is_refused_clearly(make_mock: MockFactory) -> None:
    mock = make_mock()
    with pytest.raises(openai.BadRequestError, match="does not stream"):
        await mock.client.responses.create(model="m", input="x", stream=True)
