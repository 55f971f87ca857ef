"""A synchronous client for the real app in-process (httpx over ASGI, no socket): what
Starlette's TestClient does, without its deprecated httpx path."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import ASGIApp


class AppClient:
    def __init__(self, app: ASGIApp, headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.headers = headers or {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return asyncio.run(self._request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ronda.test", headers=self.headers) as client:
            return await client.request(method, path, **kwargs)


def http_scope(
    method: str, path: str, headers: list[tuple[bytes, bytes]], client: tuple[str, int] = ("127.0.0.1", 40000)
) -> dict[str, Any]:
    """The ASGI scope uvicorn would make for a request to ronda.test (`headers` whole,
    the host included), for tests that drive the app's receive and send by hand."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": ("ronda.test", 80),
    }
