"""Who is asking: the API and the dashboard accept a bearer token (the config's, compared
in constant time); pages without one send the browser to log in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request, status

from ronda.storage.store import Store


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user of the dashboard, or a token's holder."""

    name: str
    via: str  # "token", "api_token" or "session"
    csrf: str = ""  # the session's CSRF token, for the forms of its pages


class LoginRequired(Exception):
    """A page asked for without a login: answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.next_url, safe='/')}"


class Auth:
    def __init__(self, store: Store, token: str) -> None:
        self.store = store
        self._token = token.encode()

    def _bearer(self, request: Request) -> Principal | None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        # compare_digest takes the same time whatever the first wrong byte, so the token
        # cannot be guessed byte by byte from response times.
        if secrets.compare_digest(given.strip().encode(), self._token):
            return Principal("token", "token")
        return None

    def api(self, request: Request) -> Principal:
        """The dependency of every non-public API route (and /metrics)."""
        principal = self._bearer(request)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="a valid bearer token is required (Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="ronda"'},
            )
        return principal

    def page(self, request: Request) -> Principal:
        """The dependency of every dashboard page: a login, else to the login page."""
        principal = self._bearer(request)
        if principal is None:
            raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        return principal
