"""Credentials before the body: a request that carries a body to a route behind a login or
a token is refused (401, or to the login page) before a byte of its body is read.

FastAPI reads and parses a route's body before it solves the route's dependencies, the
authentication among them: 100 MB of JSON sent without a token was parsed whole before its
401. This pure ASGI wrapper asks who is calling first, for every POST, PUT, PATCH or DELETE
with a body except those to the few routes strangers may post to (PUBLIC_PATHS): a new route
is behind it unless it is added there. A request without a body goes on as before, its
route's dependency deciding.

The route's own dependency still runs (and checks CSRF, a principal's rights): this only
refuses earlier whom it would refuse anyway, at the cost of a second look-up of the token or
session for requests that send a body.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ronda.web.auth import Auth, LoginRequired
from ronda.web.headers import App, Receive, Scope, Send

# Routes anyone may send a body to; each limits and checks what it reads itself.
PUBLIC_PATHS = frozenset({"/api/v1/reports", "/login", "/login/totp"})
PUBLIC_PREFIXES = ("/push/", "/status/")  # push calls; a status page's subscribe form and links
AGENT_PATHS = "/api/v1/agent/"  # probe agents' own routes: an agent's token, nothing else
READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})  # no route reads these methods' bodies
NO_CREDENTIALS = "a valid bearer token (Authorization: Bearer TOKEN) or a login is required"


class CredentialsFirst:
    def __init__(self, app: App, auth: Auth, agent: Callable[[Request], object | None] | None = None) -> None:
        self.app = app
        self.auth = auth
        self.agent = agent  # who an agent's request is from (its own routes take only agents' tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_ONLY or not has_body(scope) or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # headers only: receive is not handed to it
        if await run_in_threadpool(self._who, request) is None:
            await refusal(request)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _who(self, request: Request) -> object | None:
        if request.url.path.startswith(AGENT_PATHS):
            return self.agent(request) if self.agent is not None else None
        try:
            return self.auth.page(request)  # a bearer token, else a verified session's cookie
        except LoginRequired:
            return None


def has_body(scope: Scope) -> bool:
    """Whether the request says it sends a body: a length above 0, or chunks."""
    for name, value in scope.get("headers", []):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
            return True
    return False


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def refusal(request: Request) -> Response:
    """What the route's dependency would answer: 401 from the API, the login page elsewhere."""
    path = request.url.path
    if path.startswith("/api/") or path == "/metrics":
        headers = {"WWW-Authenticate": 'Bearer realm="ronda"', "Connection": "close"}
        return JSONResponse({"detail": NO_CREDENTIALS}, 401, headers=headers)
    return RedirectResponse(LoginRequired(path).location, 303, headers={"Connection": "close"})
