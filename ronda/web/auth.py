"""Who is asking: a bearer token (the config's, compared in constant time, or an API token
from the database) or a login session's cookie. Pages without either send the browser to
log in. Whatever a session's browser sends that changes something carries its CSRF token:
forms as the `csrf_token` field, API calls as the `X-CSRF-Token` header.

Each route asks for a least role (`Auth.api_as`, `page_as`, `form_as`): a viewer reads, an
editor changes monitors and incidents, an admin manages users, others' tokens and settings.
The config's token is an admin; an API token acts with its own role, at most its user's.

The cookie is HttpOnly (no script reads it), SameSite=Lax (other sites' forms do not carry
it) and Secure when ronda is reached over https.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, Response, status

from ronda.storage.accounts import SESSION_IDLE, Accounts, LoginSession, Role, at_least
from ronda.storage.database import Database
from ronda.web.formtokens import DoubleSubmit
from ronda.web.login_limits import LoginLimits, PasswordWork

SESSION_COOKIE = "ronda_session"
LOGIN_CSRF_COOKIE = "ronda_login_csrf"  # double-submit token of the login form, before any session
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FORM_EXPIRED = "This form has expired or did not come from ronda's own page: reload the page and send it again."


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user of the dashboard, or a token's holder."""

    name: str
    via: str  # "token", "api_token" or "session"
    csrf: str = ""  # the session's CSRF token, for the forms of its pages
    user_id: int | None = None  # None for the config's token (and tokens it made)
    role: Role = "viewer"

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def may(self, minimum: Role) -> bool:
        return at_least(self.role, minimum)


class LoginRequired(Exception):
    """A page asked for without a login: answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.next_url, safe='/')}"


class RoleTooLow(HTTPException):
    """Someone known, whose role does not reach what the route needs."""

    def __init__(self, principal: Principal, minimum: Role) -> None:
        super().__init__(
            status.HTTP_403_FORBIDDEN,
            detail=f"this needs the {minimum} role (or higher); {principal.name} is {_article(principal.role)}",
        )


def _article(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


class FormExpired(HTTPException):
    """A form (or a session's API call) without the right CSRF token."""

    def __init__(self, detail: str = FORM_EXPIRED) -> None:
        super().__init__(status.HTTP_403_FORBIDDEN, detail=detail)


def same(given: str | None, expected: str) -> bool:
    """Constant-time equality, so a token cannot be guessed byte by byte from response times."""
    return bool(given) and bool(expected) and secrets.compare_digest(str(given).encode(), expected.encode())


def bearer_of(request: Request) -> str:
    """The token of an `Authorization: Bearer TOKEN` header; "" for none."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" else ""


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Auth:
    def __init__(
        self,
        db: Database,
        token: str,
        *,
        public_url: str | None = None,
        accounts: Accounts | None = None,
        logins: LoginLimits | None = None,
    ) -> None:
        self.db = db
        self._token = token
        self._https = bool(public_url and public_url.startswith("https://"))
        self.accounts = accounts or db.accounts  # expiring by the clock the Database was given
        self.logins = logins or LoginLimits()  # failed logins, per address and per address and user name
        self.hashing = PasswordWork()  # password hashes, a few at a time
        self.login_tokens = DoubleSubmit(LOGIN_CSRF_COOKIE, 3600, "lax")  # the login form's, before any session

    # -- who is asking -------------------------------------------------------------------

    def _bearer(self, request: Request) -> Principal | None:
        given = bearer_of(request)
        if not given:
            return None
        if same(given, self._token):
            return Principal("token", "token", role="admin")
        token = self.accounts.use_token(given)
        if token is None:
            return None
        if token.user_id is None:  # made with the config's token: its role, at most an admin's
            return Principal(f"token {token.name}", "api_token", role=token.role)
        return Principal(token.username or "", "api_token", user_id=token.user_id, role=token.role)

    def login_session(self, request: Request) -> LoginSession | None:
        """The session behind the cookie, verified or still waiting for the second factor."""
        cookie = request.cookies.get(SESSION_COOKIE)
        return self.accounts.session(cookie) if cookie else None

    def _session(self, request: Request) -> Principal | None:
        found = self.login_session(request)
        if found is None or not found.verified:
            return None
        return Principal(found.user.username, "session", found.csrf, found.user.id, found.user.role)

    def api(self, request: Request) -> Principal:
        """The dependency of every non-public API route (and /metrics)."""
        if "authorization" in request.headers:
            principal = self._bearer(request)
        else:
            principal = self._session(request)
            if principal and request.method in UNSAFE and not same(request.headers.get(CSRF_HEADER), principal.csrf):
                raise FormExpired(
                    f"a logged-in browser's {request.method} needs the {CSRF_HEADER} header with the session's "
                    "CSRF token (reload the page to get a fresh one)"
                )
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail="a valid bearer token (Authorization: Bearer TOKEN) or a login is required",
                headers={"WWW-Authenticate": 'Bearer realm="ronda"'},
            )
        return principal

    def page(self, request: Request) -> Principal:
        """The dependency of every dashboard page: a login, else to the login page. A bearer
        token also opens pages, for scripts and tests."""
        principal = self._bearer(request) if "authorization" in request.headers else self._session(request)
        if principal is None:
            raise LoginRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        return principal

    async def form(self, request: Request) -> Principal:
        """The dependency of every HTML form post of the dashboard: a login, and the form's
        `csrf_token` field equal to the session's. (A bearer token needs none: a browser
        never sends one on its own, so another site cannot forge it.)"""
        principal = self.page(request)
        if principal.via == "session":
            given = (await request.form()).get("csrf_token")
            if not isinstance(given, str) or not same(given, principal.csrf):
                raise FormExpired()
        return principal

    # -- roles: what each route needs at least ---------------------------------------------

    def api_as(self, minimum: Role) -> Callable[[Principal], Principal]:
        """The dependency of an API route that needs `minimum`: 401 for nobody, 403 below it."""
        return _at_least(minimum, self.api)

    def page_as(self, minimum: Role) -> Callable[[Principal], Principal]:
        return _at_least(minimum, self.page)

    def form_as(self, minimum: Role) -> Callable[[Principal], Principal]:
        return _at_least(minimum, self.form)

    # -- cookies -------------------------------------------------------------------------

    def secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self._https

    def set_session_cookie(self, response: Response, request: Request, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(SESSION_IDLE.total_seconds()) * 14,  # the database decides expiry; this only outlives it
            path="/",
            httponly=True,
            samesite="lax",
            secure=self.secure(request),
        )

    def clear_session_cookie(self, response: Response, request: Request) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=self.secure(request))

    def login_csrf_token(self, request: Request) -> str:
        """The login form's CSRF token, before any session: a double submit."""
        return self.login_tokens.token(request)

    def set_login_csrf(self, response: Response, request: Request, token: str) -> None:
        self.login_tokens.set_cookie(response, token, self.secure(request))

    def check_login_csrf(self, request: Request, given: str | None) -> None:
        if not self.login_tokens.check(request, given):
            raise FormExpired()


def _at_least(
    minimum: Role, who: Callable[[Request], Principal | Awaitable[Principal]]
) -> Callable[[Principal], Principal]:
    """A dependency on `who` (FastAPI resolves it once per request) that refuses a lower role."""

    known = Depends(who)

    def needs_role(principal: Principal = known) -> Principal:
        if not principal.may(minimum):
            raise RoleTooLow(principal, minimum)
        return principal

    return needs_role
