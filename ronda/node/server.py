"""uvicorn as ronda runs it: inside ronda's own loop, on sockets ronda bound itself."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from ronda.config.schema import address_of
from ronda.errors import ServiceError

WEB_GRACE = 3  # seconds open HTTP connections (a dashboard's live stream) get to close when stopping


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside ronda's loop: ronda owns the signals and decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def embedded_server(app: ASGIApp) -> EmbeddedServer:
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1 by default;
    # the app believes it from server.trusted_proxies only (ronda/web/clients.py).
    return EmbeddedServer(
        uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=WEB_GRACE,
        )
    )


def listen_socket(listen: str, setting: str = "server.listen") -> socket.socket:
    """A listener's socket, bound by ronda so that a busy address is a clear error (uvicorn
    would exit the whole process from inside a task)."""
    host, port = address_of(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServiceError(f"{setting} {listen}: cannot listen there ({exc.strerror})") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock
