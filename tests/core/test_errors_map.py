from __future__ import annotations

import openai
import pytest

from batchpoll._errors_map import FailureKind, classify


async def test_a_refused_connection_certainly_sent_nothing() -> None:
    client = openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.APIConnectionError) as caught:
        await client.responses.retrieve("resp_1")
    failure = classify(caught.value)
    assert failure.kind is FailureKind.TRANSIENT
    assert failure.sent_nothing


def test_unknown_exceptions_end_only_the_job() -> None:
    failure = classify(RuntimeError("boom"))
    assert failure.kind is FailureKind.JOB
    assert not failure.sent_nothing
