"""``create_app``: the Starlette application, ``/v1`` routes plus the ``/_mock`` control routes.

The ``/_mock`` routes (stats, creates, reset, config) are neither authenticated, rate limited
nor faulted: they are the test harness's window into the server, not part of the API.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import ConfigurationError
from ._apierror import error_body
from ._config import MockConfig
from ._http import V1Endpoint
from ._routes import V1_ROUTES
from ._state import Clock, MockState

__all__ = ["create_app"]


def create_app(
    config: MockConfig | None = None,
    *,
    clock: Clock = time.time,
    webhook_client: httpx2.AsyncClient | None = None,
) -> Starlette:
    """A mock OpenAI server as an ASGI app; its :class:`MockState` is ``app.state.mock``.

    ``clock`` returns Unix epoch seconds; tests pass virtual time, e.g.
    ``lambda: 1_700_000_000.0 + asyncio.get_running_loop().time()``. ``webhook_client``
    sends the webhooks (``MockConfig.webhook_url``); tests pass one with an ASGI transport
    into their receiver. Stop the sender with ``await app.state.mock.webhooks.aclose()``.
    """
    state = MockState(config or MockConfig(), clock, webhook_client=webhook_client)
    routes = [
        Route(
            spec.template,
            V1Endpoint(state, spec),
            methods=None if spec.method is None else [spec.method],
        )
        for spec in V1_ROUTES
    ]
    routes += _control_routes(state)
    app = Starlette(routes=routes)
    app.state.mock = state
    return app


def _methods(method: str | None) -> list[str] | None:
    return None if method is None else [method]


def _control_routes(state: MockState) -> list[Route]:
    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    async def creates(request: Request) -> Response:
        return JSONResponse(state.creates_by_metadata(request.query_params.get("key")))

    async def reset(request: Request) -> Response:
        changes = await _json_object(request)
        if isinstance(changes, Response):
            return changes
        try:
            state.reset(**changes)
        except ConfigurationError as exc:
            return JSONResponse(error_body(str(exc)), status_code=400)
        return JSONResponse({"reset": True, "config": state.config_json()})

    async def get_config(request: Request) -> Response:
        return JSONResponse(state.config_json())

    async def post_config(request: Request) -> Response:
        changes = await _json_object(request)
        if isinstance(changes, Response):
            return changes
        try:
            return JSONResponse(state.configure(**changes))
        except ConfigurationError as exc:
            return JSONResponse(error_body(str(exc)), status_code=400)

    return [
        Route("/_mock/stats", stats, methods=["GET"]),
        Route("/_mock/creates", creates, methods=["GET"]),
        Route("/_mock/reset", reset, methods=["POST"]),
        Route("/_mock/config", get_config, methods=["GET"]),
        Route("/_mock/config", post_config, methods=["POST"]),
    ]


async def _json_object(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return JSONResponse(error_body("The body must be a JSON object."), status_code=400)
    if not isinstance(data, dict):
        return JSONResponse(error_body("The body must be a JSON object."), status_code=400)
    return data
