"""Bearer-token authentication for the API, compared in constant time."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import HTTPException, Request, status


def bearer_guard(token: str) -> Callable[[Request], None]:
    expected = token.encode()

    def require_token(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest takes the same time whatever the first wrong byte, so the token
        # cannot be guessed byte by byte from response times.
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="a valid bearer token is required (Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="ronda"'},
            )

    return require_token
