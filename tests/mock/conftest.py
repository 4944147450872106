"""In-process mock + official SDK on virtual time (looptime): no sockets, no real sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest
from starlette.applications import Starlette

from batchpoll.mock import MockConfig, MockState, asgi_client, create_app
from batchpoll.mock._client import BASE_URL, InProcessTransport

EPOCH = 1_700_000_000.0


def virtual_now() -> float:
    """Unix time on the running loop's (virtual) clock."""
    return EPOCH + asyncio.get_running_loop().time()


@dataclass
class Mock:
    app: Starlette
    state: MockState
    client: openai.AsyncOpenAI  # strict validation, no SDK retries
    http: httpx2.AsyncClient  # raw HTTP, for headers and bodies

    async def stats(self) -> dict[str, Any]:
        reply = await self.http.get("/_mock/stats")
        assert reply.status_code == 200
        data: dict[str, Any] = reply.json()
        return data


MockFactory = Callable[..., Mock]


@pytest.fixture
async def make_mock() -> AsyncIterator[MockFactory]:
    clients: list[Any] = []

    def factory(
        config: MockConfig | None = None, *, api_key: str = "sk-test", **client_kwargs: Any
    ) -> Mock:
        app = create_app(config or MockConfig(), clock=virtual_now)
        client_kwargs.setdefault("max_retries", 0)
        client_kwargs.setdefault("_strict_response_validation", True)
        client = asgi_client(app, api_key=api_key, **client_kwargs)
        http = httpx2.AsyncClient(
            transport=InProcessTransport(app),
            base_url=BASE_URL,
            headers={"authorization": f"Bearer {api_key}"},
        )
        clients.extend([client, http])
        return Mock(app=app, state=app.state.mock, client=client, http=http)

    yield factory
    for c in clients:
        await c.close() if isinstance(c, openai.AsyncOpenAI) else await c.aclose()
