"""An event loop in a thread, for callers that are not async themselves (tests, scripts)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="world-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def close_server(server: asyncio.Server, connections: set[asyncio.Task[None]]) -> None:
    """Stop listening and drop every connection: the server has disappeared."""
    # Let connections the kernel already accepted reach their handlers first, so the
    # cancelling below covers them too (else their sockets leak).
    await asyncio.sleep(0)
    server.close()
    for task in list(connections):
        task.cancel()
    with contextlib.suppress(Exception):
        await server.wait_closed()


async def serve_connection(
    connections: set[asyncio.Task[None]], writer: asyncio.StreamWriter, session: Coroutine[Any, Any, None]
) -> None:
    """One client connection's `session`, tracked so `close_server` can drop it. A client that
    leaves mid-answer or fails its handshake ends it quietly (a monitor does both); the
    transport is aborted at the end, whatever the peer does about TLS close_notify."""
    task = asyncio.current_task()
    assert task is not None
    connections.add(task)
    try:
        await session
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError, asyncio.CancelledError):
        pass  # ssl.SSLError is an OSError
    finally:
        connections.discard(task)
        writer.transport.abort()


class StreamServer:
    """What the world's servers share: a listener on asyncio streams, each client connection's
    task kept so that stopping drops them all (the server disappears, as a crashed one would)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def listen(self, tls: ssl.SSLContext | None = None, limit: int = 2**16) -> None:
        """Start listening (port 0: any free one, read back into `port`)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=tls, limit=limit)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection: the server has disappeared."""
        if self._server is not None:
            await close_server(self._server, self._tasks)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError
