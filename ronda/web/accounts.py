"""Logging in and out, the account page (second factor, API tokens), the token API, and
the users' roles (an admin's: `/users` and /api/v1/users).

Login is two steps when a second factor is enrolled: the password opens a session that
can do nothing but take the TOTP code, for five minutes. Attempts, of either step, are
counted per client address and per address and user name before they are tried, and
passwords are hashed a few at a time (ronda/web/login_limits.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ronda.clock import Clock
from ronda.storage.accounts import ROLES, AccountError, ApiToken, LoginSession, Role, User, UserEntry, at_least
from ronda.verdict import iso
from ronda.web import examples
from ronda.web.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Auth, FormExpired, Principal, client_address, same
from ronda.web.context import WebContext
from ronda.web.login_limits import HashingBusy
from ronda.web.shapes import token_json
from ronda.web.templating import make_templates

TOKEN_EXAMPLE: dict[str, Any] = {
    "id": 3,
    "name": "backup job",
    "prefix": "ronda_k3Xz9Q",
    "user": "admin",
    "role": "editor",
    "created_at": "2026-12-01T18:00:00Z",
    "last_used_at": "2026-12-01T18:05:00Z",
    "revoked_at": None,
}


BUSY = "Too many logins at once. Try again in a few seconds."
BUSY_WAIT = 2  # seconds: the hashing queue empties in about one


class TokenRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "backup job", "role": "editor"}]}
    )

    name: str = Field(min_length=1, max_length=64, description="what the token is for, to tell tokens apart")
    role: Role | None = Field(default=None, description="what it may do, at most the caller's role (the default)")


class TokenRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "viewer"}]})

    role: Role = Field(description="viewer, editor or admin: at most the token's user's role and the caller's")


USER_EXAMPLE: dict[str, Any] = {
    "name": "carol",
    "role": "editor",
    "totp": False,
    "created_at": "2026-12-01T18:00:00Z",
    "last_login_at": "2026-12-02T08:30:00Z",
}


class UserInfo(BaseModel):
    """A user as an admin sees one: never a password or a second factor's secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [USER_EXAMPLE]})

    name: str
    role: Role
    totp: bool = Field(description="a second factor is enrolled")
    created_at: str
    last_login_at: str | None


class UserRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "carol", "password": "a long passphrase", "role": "editor"}]},
    )

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role = Field(default="viewer", description="viewer (the default), editor or admin")


class UserRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "editor"}]})

    role: Role


class TokenInfo(BaseModel):
    """An API token as listed: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [TOKEN_EXAMPLE]})

    id: int
    name: str
    prefix: str = Field(description="the secret's first characters")
    user: str | None = Field(description="the user it acts for; null for tokens made with the config's token")
    role: Role = Field(description="what it may do now: its own role, at most its user's")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(TokenInfo):
    """A new token with its secret: shown this once, ronda keeps only its hash."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [TOKEN_EXAMPLE | {"last_used_at": None, "token": "ronda_k3Xz9Q..."}]}
    )

    token: str = Field(description="the secret, for `Authorization: Bearer TOKEN`")


class Me(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "admin", "via": "session", "role": "admin", "admin": True, "user_id": 1, "totp": False}
            ]
        }
    )

    name: str
    via: str = Field(description="token (the config's), api_token or session")
    role: Role = Field(description="viewer, editor or admin")
    admin: bool = Field(description="role is admin")
    user_id: int | None
    totp: bool = Field(description="the user has a second factor enrolled")


def local_path(next_url: str | None) -> str:
    """Where to go after logging in: a path on this site only, so a link to ronda's login
    cannot send someone on to another site (an open redirect)."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return "/"
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or any(ord(char) < 32 for char in next_url):
        return "/"
    return next_url


def _need_user(principal: Principal) -> int:
    if principal.user_id is None:
        raise HTTPException(400, detail="this needs a user's login, not the config's token")
    return principal.user_id


def accounts_router(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter(tags=["pages"])
    accounts = auth.accounts
    templates = make_templates()
    # Dependencies as defaults (FastAPI's way): the annotations are strings here, and a
    # string cannot name this function's `auth`.
    form_user = Depends(auth.form)
    page_user = Depends(auth.page)

    def login_page(
        request: Request, step: str, next_url: str, error: str = "", code: int = 200, csrf: str = ""
    ) -> Response:
        """The login form; at the password step its CSRF token is the login cookie's."""
        if step == "password":
            csrf = auth.login_csrf_token(request)
        context = {"step": step, "next": next_url, "error": error, "csrf": csrf}
        response = templates.TemplateResponse(request, "login.html", context, status_code=code)
        if step == "password":
            auth.set_login_csrf(response, request, csrf)
        return response

    def too_many(request: Request, step: str, next_url: str, wait: int, csrf: str = "", why: str = "") -> Response:
        error = why or f"Too many failed attempts. Try again in {wait} seconds."
        response = login_page(request, step, next_url, error, 429, csrf)
        response.headers["Retry-After"] = str(wait)
        return response

    def logged_in(request: Request, user: User, verified: bool, next_url: str) -> Response:
        token = accounts.start_session(user, verified)
        if verified:
            response: Response = RedirectResponse(next_url, status_code=303)
        else:
            pending = accounts.session(token)
            response = login_page(request, "totp", next_url, csrf=pending.csrf if pending else "")
        auth.set_session_cookie(response, request, token)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @router.get("/login", summary="The login form (public)", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        next_url = local_path(next)
        found = auth.login_session(request)
        if found and found.verified:
            return RedirectResponse(next_url, status_code=303)
        return login_page(request, "password", next_url)

    @router.post("/login", summary="Log in with user name and password (public; the login form's CSRF token)")
    async def login(
        request: Request,
        username: str = Form(""),
        password: str = Form(""),
        csrf_token: str = Form(""),
        next: str = Form("/"),
    ) -> Response:
        # Async, so that the hash runs on its own small pool (ronda/web/login_limits.py)
        # and logins waiting for it hold none of the threads the other routes need.
        auth.check_login_csrf(request, csrf_token)
        next_url = local_path(next)
        attempt = auth.logins.begin(client_address(request), username)
        if isinstance(attempt, int):
            return await run_in_threadpool(too_many, request, "password", next_url, attempt)
        try:
            user = await auth.hashing.run(accounts.authenticate, username, password)
        except HashingBusy:
            attempt.not_tried()
            return await run_in_threadpool(too_many, request, "password", next_url, BUSY_WAIT, "", BUSY)
        if user is None:
            error = "Wrong user name or password."
            return await run_in_threadpool(login_page, request, "password", next_url, error, 401)
        attempt.passed(finished=not user.totp)  # else the count goes on until the code is right
        return await run_in_threadpool(logged_in, request, user, not user.totp, next_url)

    @router.post("/login/totp", summary="Log in, second step: the TOTP code (public; the pending session)")
    def login_totp(
        request: Request, code: str = Form(""), csrf_token: str = Form(""), next: str = Form("/")
    ) -> Response:
        next_url = local_path(next)
        pending = auth.login_session(request)
        # No pending session: its five minutes are over (or the password step never was).
        if pending is None or pending.verified or not same(csrf_token, pending.csrf):
            raise FormExpired()
        return second_factor(request, pending, code, next_url)

    def second_factor(request: Request, pending: LoginSession, code: str, next_url: str) -> Response:
        attempt = auth.logins.begin(client_address(request), pending.user.username, second_factor=True)
        if isinstance(attempt, int):
            return too_many(request, "totp", next_url, attempt, pending.csrf)
        if not accounts.totp_check(pending.user.id, code):
            return login_page(request, "totp", next_url, "That code is wrong or was used already.", 401, pending.csrf)
        attempt.passed(finished=True)
        token = accounts.verify_session(request.cookies[SESSION_COOKIE])
        response = RedirectResponse(next_url, status_code=303)
        auth.set_session_cookie(response, request, token)
        return response

    @router.post("/logout", summary="Log out: the session ends (login, form)")
    def logout(request: Request, _principal: Principal = form_user) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            accounts.end_session(cookie)
        response = RedirectResponse("/login", status_code=303)
        auth.clear_session_cookie(response, request)
        return response

    # -- the account page ----------------------------------------------------------------

    def account_page(request: Request, principal: Principal, code: int = 200, **extra: Any) -> Response:
        user = accounts.user(principal.user_id) if principal.user_id else None
        tokens = accounts.tokens(principal.user_id) if principal.user_id else []
        context = {
            "user": principal,
            "account": user,
            "tokens": tokens,
            "token_roles": roles_up_to(principal.role),
            "section": "account",
            "now": ctx.clock(),
        } | extra
        return templates.TemplateResponse(request, "account.html", context, status_code=code)

    @router.get("/account", summary="The account page: second factor, API tokens (login)", response_class=HTMLResponse)
    def account(request: Request, principal: Principal = page_user) -> Response:
        return account_page(request, principal, notice=_notices.get(request.query_params.get("done", ""), ""))

    @router.post("/account/tokens", summary="Create an API token, shown on the page this once (login, form)")
    def account_new_token(
        request: Request, principal: Principal = form_user, name: str = Form(""), role: str = Form("")
    ) -> Response:
        try:
            given = capped(role or principal.role, principal)
            secret, token = accounts.create_token(name, _need_user(principal), given)
        except AccountError as exc:
            return account_page(request, principal, 400, error=str(exc))
        return account_page(request, principal, new_token=secret, new_token_name=token.name)

    @router.post("/account/tokens/{token_id}/revoke", summary="Revoke one of your API tokens (login, form)")
    def account_revoke(token_id: int, principal: Principal = form_user) -> Response:
        accounts.revoke_token(token_id, _need_user(principal))
        return RedirectResponse("/account?done=revoked", status_code=303)

    @router.post("/account/totp/start", summary="Begin two-factor enrolment: a secret for an app (login, form)")
    def account_totp_start(
        request: Request,
        principal: Principal = form_user,
    ) -> Response:
        _need_user(principal)
        secret = accounts.totp_new_secret()
        return account_page(request, principal, totp_secret=secret, totp_uri=accounts.totp_uri(principal.name, secret))

    @router.post("/account/totp/confirm", summary="Turn two-factor login on with a code from the app (login, form)")
    def account_totp_confirm(
        request: Request,
        principal: Principal = form_user,
        secret: str = Form(""),
        code: str = Form(""),
    ) -> Response:
        if accounts.totp_enrol(_need_user(principal), secret, code):
            return RedirectResponse("/account?done=totp-on", status_code=303)
        uri = accounts.totp_uri(principal.name, secret) if secret else ""
        error = "That code does not match: check the app's clock and enter the newest code."
        return account_page(request, principal, 400, error=error, totp_secret=secret, totp_uri=uri)

    @router.post("/account/totp/disable", summary="Turn two-factor login off with a current code (login, form)")
    def account_totp_disable(request: Request, principal: Principal = form_user, code: str = Form("")) -> Response:
        if accounts.totp_disable(_need_user(principal), code):
            return RedirectResponse("/account?done=totp-off", status_code=303)
        return account_page(request, principal, 400, error="That code is wrong or was used already.")

    router.include_router(_users_pages(auth, templates, ctx.clock))
    router.include_router(_token_api(auth))
    router.include_router(_users_api(auth))
    return router


def roles_up_to(role: Role) -> list[Role]:
    """The roles someone of `role` may hand out: theirs and those below."""
    return [r for r in ROLES if at_least(role, r)]


def capped(role: str, principal: Principal) -> Role:
    """`role` (as typed) if the caller may hand it out, else an AccountError: no one makes a
    token, or gives a role, above their own (a viewer's token of an admin stays a viewer's)."""
    if role not in ROLES:
        raise AccountError(f"{role!r} is not a role: one of {', '.join(ROLES)}")
    if not at_least(principal.role, role):
        raise AccountError(f"{principal.name} is {principal.role} and cannot hand out the {role} role")
    return role


def _users_pages(auth: Auth, templates: Jinja2Templates, clock: Clock) -> APIRouter:
    """The admin's page of users: each with their role, changed by a form; a new user."""
    router = APIRouter(tags=["pages"])
    accounts = auth.accounts
    admin_page = Depends(auth.page_as("admin"))
    admin_form = Depends(auth.form_as("admin"))

    def users_page(request: Request, principal: Principal, code: int = 200, **extra: Any) -> Response:
        context = {"user": principal, "users": accounts.users(), "roles": ROLES, "section": "users"}
        context |= {"now": clock()} | extra
        return templates.TemplateResponse(request, "users.html", context, status_code=code)

    @router.get("/users", summary="Users and their roles (admin)", response_class=HTMLResponse)
    def users(request: Request, principal: Principal = admin_page) -> Response:
        return users_page(request, principal)

    @router.post("/users", summary="Add a user with a role (admin, form)")
    def add_user(
        request: Request,
        principal: Principal = admin_form,
        name: str = Form(""),
        password: str = Form(""),
        role: str = Form("viewer"),
    ) -> Response:
        try:
            accounts.add_user(name.strip(), password, capped(role, principal))
        except AccountError as exc:
            return users_page(request, principal, 400, error=str(exc))
        return RedirectResponse("/users", status_code=303)

    @router.post("/users/{name}/role", summary="Give a user another role (admin, form)")
    def set_role(request: Request, name: str, principal: Principal = admin_form, role: str = Form("")) -> Response:
        try:
            accounts.set_role(name, role)
        except AccountError as exc:
            return users_page(request, principal, 400, error=str(exc))
        return RedirectResponse("/users", status_code=303)

    return router


def _user_info(entry: UserEntry) -> dict[str, Any]:
    return {
        "name": entry.user.username,
        "role": entry.user.role,
        "totp": entry.user.totp,
        "created_at": iso(entry.created_at),
        "last_login_at": iso(entry.last_login_at) if entry.last_login_at else None,
    }


def _users_api(auth: Auth) -> APIRouter:
    admin = Depends(auth.api_as("admin"))
    api = APIRouter(prefix="/api/v1", tags=["accounts"], responses=examples.NO_TOKEN, dependencies=[admin])
    accounts = auth.accounts
    not_found = examples.refusal(404, "No such user", "no user named 'carol'")

    def entry(name: str) -> dict[str, Any]:
        found = next((e for e in accounts.users() if e.user.username == name), None)
        if found is None:
            raise HTTPException(404, detail=f"no user named {name!r}")
        return _user_info(found)

    @api.get("/users", summary="Users and their roles (admin)", response_model=list[UserInfo])
    def users() -> list[dict[str, Any]]:
        return [_user_info(e) for e in accounts.users()]

    @api.post("/users", status_code=201, summary="Add a user with a role (admin)", response_model=UserInfo)
    def add_user(request: UserRequest) -> dict[str, Any]:
        try:
            accounts.add_user(request.name, request.password, request.role)
        except AccountError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        return entry(request.name)

    @api.patch(
        "/users/{name}",
        summary="Give a user another role (admin); the last admin stays one",
        response_model=UserInfo,
        responses=not_found,
    )
    def set_role(name: str, change: UserRoleChange) -> dict[str, Any]:
        try:
            accounts.set_role(name, change.role)
        except AccountError as exc:
            status = 404 if str(exc).startswith("no user") else 409
            raise HTTPException(status, detail=str(exc)) from None
        return entry(name)

    return api


_notices = {
    "revoked": "The token is revoked: it opens nothing any more.",
    "totp-on": "Two-factor login is on: from now on a login asks for a code from the app.",
    "totp-off": "Two-factor login is off.",
}


def _info(token: ApiToken) -> dict[str, Any]:
    return token_json(token)


def _token_api(auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", tags=["accounts"], responses=examples.NO_TOKEN)
    accounts = auth.accounts
    api_user = Depends(auth.api)
    not_found = examples.refusal(404, "No such token (or not yours)", "no token 7")

    @api.get("/me", summary="Who the request acts for", response_model=Me)
    def me(principal: Principal = api_user) -> dict[str, Any]:
        user = accounts.user(principal.user_id) if principal.user_id else None
        return {
            "name": principal.name,
            "via": principal.via,
            "role": principal.role,
            "admin": principal.admin,
            "user_id": principal.user_id,
            "totp": bool(user and user.totp),
        }

    @api.get(
        "/tokens",
        summary="API tokens, newest first: the caller's own, or every one for an admin",
        response_model=list[TokenInfo],
    )
    def tokens(principal: Principal = api_user) -> list[dict[str, Any]]:
        return [_info(token) for token in accounts.tokens(None if principal.admin else principal.user_id)]

    @api.post(
        "/tokens",
        status_code=201,
        summary="Create an API token; its secret is in this answer only",
        response_model=TokenCreated,
    )
    def create_token(request: TokenRequest, principal: Principal = api_user) -> dict[str, Any]:
        try:
            role = capped(request.role or principal.role, principal)
            secret, token = accounts.create_token(request.name, principal.user_id, role)
        except AccountError as exc:
            raise HTTPException(403 if request.role else 422, detail=str(exc)) from None
        return _info(token) | {"token": secret}

    @api.patch(
        "/tokens/{token_id}",
        summary="Give an API token another role (yours; an admin's, any): at most its user's and yours",
        response_model=TokenInfo,
        responses=not_found,
    )
    def set_token_role(token_id: int, change: TokenRoleChange, principal: Principal = api_user) -> dict[str, Any]:
        try:
            role = capped(change.role, principal)
            token = accounts.set_token_role(token_id, role, None if principal.admin else principal.user_id)
        except AccountError as exc:
            raise HTTPException(403, detail=str(exc)) from None
        if token is None:
            raise HTTPException(404, detail=f"no token {token_id}")
        return _info(token)

    @api.delete(
        "/tokens/{token_id}",
        status_code=204,
        summary="Revoke an API token (yours; an admin's, any): it is refused from now on",
        responses=not_found,
    )
    def revoke_token(token_id: int, principal: Principal = api_user) -> Response:
        if not accounts.revoke_token(token_id, None if principal.admin else principal.user_id):
            raise HTTPException(404, detail=f"no token {token_id}")
        return Response(status_code=204)

    return api


def form_expired_handler() -> Callable[[Request, Exception], Response]:
    """The answer to a failed CSRF check: a page that says to reload for a browser, the
    usual JSON error for a script."""
    templates = make_templates()

    def form_expired(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormExpired)
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        return templates.TemplateResponse(request, "form_expired.html", {"detail": exc.detail}, status_code=403)

    return form_expired
