"""Webhook tests on virtual time: the SDK's replay window reads ``time.time()``, so it is
pointed at the loop's (virtual) clock, the same one the in-process mock stamps with."""

from __future__ import annotations

import asyncio
import base64
import types

import pytest

from tests._virtual import EPOCH

SECRET = "whsec_" + base64.b64encode(b"batchpoll-test-webhook-key-32byt").decode()


def virtual_now() -> float:
    return EPOCH + asyncio.get_running_loop().time()


@pytest.fixture(autouse=True)
def sdk_virtual_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import openai.lib._webhooks as sdk_webhooks

    monkeypatch.setattr(sdk_webhooks, "time", types.SimpleNamespace(time=virtual_now))
