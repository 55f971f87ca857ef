"""A JSON API and an OAuth2 token endpoint on loopback, for the tests of http(s) requests and
assertions: Python's own HTTP server (an implementation independent of ronda's client), in
a thread, with TLS from the test CA when asked. Every request is kept as it came, so a test
sees the method, headers and body ronda sent."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


Route = Callable[[Seen], Answer]


class ApiServer:
    """Answers each path with its route's Answer (404 without one); `seen` keeps every request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                with api._lock:
                    api.seen.append(seen)
                    route = api.routes.get(self.path.split("?")[0])
                answer = route(seen) if route else Answer(404, "no such route")
                body, headers = answer.encoded()
                self.send_response(answer.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str, answer: Answer | Route) -> None:
        with self._lock:
            self.routes[path] = answer if callable(answer) else (lambda seen, fixed=answer: fixed)

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path.split("?")[0] == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TokenEndpoint:
    """An OAuth2 token endpoint (client credentials) at `/token` of `api`: a token for the
    right client id and secret, 401 invalid_client for others; each token it gives is new
    (token-1, token-2, ...), valid `expires_in` seconds; `revoke()` makes the API refuse
    the tokens given so far. `protect(path, answer)` serves `answer` at `path` to a request
    with a valid token, 401 to others."""

    def __init__(self, api: ApiServer, client_id: str, secret: str, expires_in: int = 3600) -> None:
        self.api, self.client_id, self.secret, self.expires_in = api, client_id, secret, expires_in
        self.given: list[str] = []
        self.revoked: set[str] = set()
        api.route("/token", self._token)

    @property
    def url(self) -> str:
        return self.api.url("/token")

    @property
    def calls(self) -> list[Seen]:
        return self.api.requests_to("/token")

    def _token(self, seen: Seen) -> Answer:
        import base64

        form = seen.form()
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type"})
        basic = seen.headers.get("authorization", "")
        if basic.startswith("Basic "):
            client, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        else:
            client, secret = form.get("client_id", ""), form.get("client_secret", "")
        if (client, secret) != (self.client_id, self.secret):
            return Answer(401, {"error": "invalid_client", "error_description": "unknown client"})
        token = f"token-{len(self.given) + 1}"
        self.given.append(token)
        return Answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in})

    def revoke(self) -> None:
        self.revoked.update(self.given)

    def protect(self, path: str, answer: Answer) -> None:
        def guarded(seen: Seen) -> Answer:
            token = seen.headers.get("authorization", "").removeprefix("Bearer ")
            if token in self.given and token not in self.revoked:
                return answer
            return Answer(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

        self.api.route(path, guarded)
