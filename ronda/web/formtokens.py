"""Double-submit tokens for forms posted without a session (the login form, the status
page's report form): the page sets a cookie and puts the same value in a hidden field. A
cross-site form can send the field's name but can neither read nor set the cookie, and the
token is signed with a key held in memory, so a cookie planted by a neighbouring site (a
sibling subdomain can set cookies) is not accepted either. A restart changes the key: a
form opened before it must be reloaded."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request, Response


@dataclass
class DoubleSubmit:
    cookie: str
    max_age: int  # seconds
    samesite: Literal["lax", "strict"]
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def token(self, request: Request) -> str:
        """The browser's token if it is one of ours (other tabs keep working), else a new one."""
        given = request.cookies.get(self.cookie)
        return given if given and self._signed(given) else self._new()

    def check(self, request: Request, given: str | None) -> bool:
        """The form's field matches the cookie, and the cookie is ronda's."""
        cookie = request.cookies.get(self.cookie)
        if not cookie or not given:
            return False
        return hmac.compare_digest(cookie.encode(), given.encode()) and self._signed(cookie)

    def set_cookie(self, response: Response, token: str, secure: bool) -> None:
        response.set_cookie(
            self.cookie, token, max_age=self.max_age, path="/", httponly=True, samesite=self.samesite, secure=secure
        )

    def _new(self) -> str:
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(nonce)}"

    def _signed(self, token: str) -> bool:
        nonce, _, mac = token.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(nonce))

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()[:32]
