"""Serving the mock over real sockets with uvicorn: in a background thread, or in the foreground.

The socket is bound before uvicorn starts, so ``port=0`` yields the real port at once and the
base URL can be announced before the first request can arrive. uvicorn runs with the h11
protocol: a dropped reply (the "disconnect" fault) then really closes the TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from ._app import create_app
from ._config import MockConfig
from ._state import Clock, MockState

__all__ = ["MockServer", "bind_socket", "running_server", "serve_forever"]

_STARTUP_TIMEOUT_S = 10.0


class _DropNoticeFilter(logging.Filter):
    """uvicorn logs every dropped reply as an error; for the mock that is the point, not news.
    Likewise a slow reply still pending at shutdown is cancelled on purpose, not a crash."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "returned without completing response" in record.getMessage():
            return False
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


def _quiet_dropped_replies() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropNoticeFilter) for f in logger.filters):
        logger.addFilter(_DropNoticeFilter())


@dataclass(frozen=True, slots=True)
class MockServer:
    """A running mock: point ``openai.AsyncOpenAI(base_url=server.base_url)`` at it."""

    host: str
    port: int
    app: Starlette

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def state(self) -> MockState:
        state: MockState = self.app.state.mock
        return state


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _uvicorn_config(app: Starlette, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http="h11",
        lifespan="off",
        log_level=log_level,
        access_log=False,
        # The mock answers bursts of hundreds of concurrent clients: do not cap them.
        backlog=2048,
        timeout_keep_alive=30,
        # Slow-reply faults sleep up to slow_ms; stopping must not wait for them.
        timeout_graceful_shutdown=1,
    )


@contextlib.contextmanager
def running_server(
    config: MockConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock = time.time,
    log_level: str = "warning",
) -> Iterator[MockServer]:
    """Run the mock in a background thread for the duration of the ``with`` block."""
    _quiet_dropped_replies()
    app = create_app(config, clock=clock)
    sock = bind_socket(host, port)
    server = uvicorn.Server(_uvicorn_config(app, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="batchpoll-mock", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the mock server did not start")
        time.sleep(0.01)
    try:
        yield MockServer(host=host, port=sock.getsockname()[1], app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_TIMEOUT_S)
        sock.close()


class _QuietExitServer(uvicorn.Server):
    """SIGINT/SIGTERM stop the server gracefully and the process exits 0.

    uvicorn re-raises the captured signal after shutdown (so the process would die of it);
    a mock stopped on purpose has succeeded, so the signal is consumed instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def serve_forever(
    config: MockConfig,
    host: str,
    port: int,
    *,
    announce: Callable[[str], None],
    log_level: str = "warning",
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; ``announce`` gets the base URL first."""
    _quiet_dropped_replies()
    app = create_app(config)
    sock = bind_socket(host, port)
    server = _QuietExitServer(_uvicorn_config(app, log_level))
    announce(MockServer(host=host, port=sock.getsockname()[1], app=app).base_url)
    try:
        asyncio.run(server.serve(sockets=[sock]))
    finally:
        sock.close()
