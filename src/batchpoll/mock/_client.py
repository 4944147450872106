"""``asgi_client``: the official SDK talking to the mock in process, no sockets.

``httpx2.ASGITransport`` knows nothing of dropped connections or read timeouts, so it is
wrapped: an app that returns without finishing its response (the mock's "disconnect" fault)
becomes ``httpx2.RemoteProtocolError``, and the request's read timeout is enforced on the
event loop's clock (virtual under looptime) as ``httpx2.ReadTimeout``. The SDK then raises
``APIConnectionError`` / ``APITimeoutError`` exactly as it does over a real socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx2
import openai

from ._http import Receive, Scope, Send

__all__ = ["BASE_URL", "InProcessTransport", "asgi_client"]

BASE_URL = "http://mock.local"


class _Unfinished(Exception):
    """The app returned after starting a response it never finished."""


class InProcessTransport(httpx2.AsyncBaseTransport):
    def __init__(self, app: Any) -> None:
        self._app = app
        self._inner = httpx2.ASGITransport(app=self._tracking_app)

    async def _tracking_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        await self._app(scope, receive, tracking_send)
        if not finished:
            raise _Unfinished

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout = request.extensions.get("timeout", {})
        read_timeout = timeout.get("read") if isinstance(timeout, dict) else None
        try:
            async with asyncio.timeout(read_timeout):
                return await self._inner.handle_async_request(request)
        except _Unfinished:
            raise httpx2.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from None
        except TimeoutError:
            raise httpx2.ReadTimeout(
                "timed out waiting for the response", request=request
            ) from None


def asgi_client(app: Any, api_key: str = "sk-test", **openai_kwargs: Any) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` whose requests go straight into ``app`` (base URL ``/v1``).

    Extra keyword arguments go to ``AsyncOpenAI`` (``max_retries``, ``timeout``,
    ``_strict_response_validation``, ...).
    """
    http_client = httpx2.AsyncClient(transport=InProcessTransport(app), base_url=BASE_URL)
    return openai.AsyncOpenAI(
        api_key=api_key, base_url=f"{BASE_URL}/v1", http_client=http_client, **openai_kwargs
    )
