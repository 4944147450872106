"""ASGI mechanics of the ``/v1`` routes: read, ask the state, wait, send — or drop the line.

A dropped connection is a response that starts (status line and a ``content-length``) and
stops half-way: over a real socket uvicorn then closes the connection, and the client's HTTP
library raises a protocol error, exactly as when a proxy cuts a reply. In process, the
transport of :func:`asgi_client` turns the same unfinished response into that error.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ._outgoing import Outgoing
from ._state import MockState, RouteSpec

__all__ = ["V1Endpoint"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class V1Endpoint:
    """One OpenAI route as an ASGI app (Starlette mounts class instances as raw ASGI)."""

    def __init__(self, state: MockState, route: RouteSpec) -> None:
        self._state = state
        self._route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_body = await read_body(receive)
        method: str = scope["method"]
        route = self._route
        params = {str(k): str(v) for k, v in scope.get("path_params", {}).items()}
        if route.method is None:  # the catch-all: class by method, the URL for the message
            params = {"method": method, "path": params.get("path", "")}
            route = dataclasses.replace(route, request_class="get" if method == "GET" else "post")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        out = self._state.handle(route, method, params, query, headers, raw_body)
        if out.delay_s > 0 and not await _wait_unless_gone(receive, out.delay_s):
            return  # the client gave up (read timeout): nobody to answer
        await send_outgoing(send, out)


async def _wait_unless_gone(receive: Receive, delay_s: float) -> bool:
    """Sleep ``delay_s``; False as soon as the client disconnects (a slow reply's client
    usually times out first, and its server task should not linger for ``slow_ms``)."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=delay_s)
        return not done
    finally:
        watcher.cancel()


async def send_outgoing(send: Send, out: Outgoing) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out.headers]
    headers.append((b"content-length", str(len(out.body)).encode()))
    await send({"type": "http.response.start", "status": out.status, "headers": headers})
    if out.disconnect:
        # Promise the whole body, deliver half, return: the server closes the connection.
        await send(
            {
                "type": "http.response.body",
                "body": out.body[: len(out.body) // 2],
                "more_body": True,
            }
        )
        return
    await send({"type": "http.response.body", "body": out.body, "more_body": False})
