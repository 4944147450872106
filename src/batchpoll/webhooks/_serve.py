"""``serve``: a receiver on HOST:PORT with uvicorn, in the running event loop (the poller's)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import anyio

from .. import ConfigurationError, logger
from ._receiver import WebhookReceiver

__all__ = ["parse_listen", "serve"]

log = logger  # silent until the application configures structlog

_STARTUP_TIMEOUT_S = 10.0


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) → ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigurationError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


@contextlib.asynccontextmanager
async def serve(receiver: WebhookReceiver, host: str, port: int) -> AsyncIterator[int]:
    """Serve ``receiver`` (POST to any path) while the block runs; yields the bound port.

    Needs uvicorn (the ``webhooks`` extra). Runs in the current loop, so hints reach the
    poller without crossing threads; the caller keeps its own signal handlers.
    """
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            "listening for webhooks needs uvicorn: pip install 'batchpoll[webhooks]'"
        ) from None

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # the caller's SIGINT/SIGTERM handling stays in charge

    # Bound here, so a taken port is our error message rather than uvicorn's sys.exit.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen for webhooks on {host}:{port}: {exc}") from None
    config = uvicorn.Config(receiver.app, lifespan="off", access_log=False, log_level="warning")
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    with anyio.move_on_after(_STARTUP_TIMEOUT_S):
        while not server.started:  # uvicorn has no startup event to wait on
            if task.done():
                break
            await anyio.sleep(0.01)
    if not server.started:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        sock.close()
        raise ConfigurationError(f"cannot listen for webhooks on {host}:{port}")
    bound: int = sock.getsockname()[1]
    log.info("batchpoll.webhook.listening", host=host, port=bound)
    try:
        yield bound
    finally:
        server.should_exit = True
        with anyio.move_on_after(5.0), contextlib.suppress(Exception):
            await task  # cancelled with the scope if it does not end in time
        sock.close()
