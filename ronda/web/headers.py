"""Headers every answer carries, so a page of ronda's cannot be framed, sniffed into another
type, run a script it did not load from ronda itself, or leak its address to other sites.

A pure ASGI wrapper rather than Starlette's BaseHTTPMiddleware: it only adds headers to the
response's start, so streamed answers (the dashboard's server-sent events) pass untouched.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# Scripts and styles from ronda's own /static only; no inline script, no plugins, no framing.
# Inline style attributes stay allowed: the certificate timeline places its marks with one.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
EVERY_ANSWER = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)
HTML_ANSWER = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),)
HSTS = ((b"strict-transport-security", b"max-age=31536000"),)


class SecurityHeaders:
    """Wraps the app. `https`: ronda is reached over TLS (its public_url says https://), so
    browsers are told to keep to it; a request that came over TLS itself gets the same."""

    def __init__(self, app: App, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = self.https or scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *added(message, over_tls)]
            await send(message)

        await self.app(scope, receive, with_headers)


def added(start: Message, over_tls: bool) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in start.get("headers", [])}
    wanted = list(EVERY_ANSWER) + (list(HSTS) if over_tls else [])
    if _is_html(start):
        wanted += HTML_ANSWER
    return [(name, value) for name, value in wanted if name not in present]


def _is_html(start: Message) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in start["headers"])
