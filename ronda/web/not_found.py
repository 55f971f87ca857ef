"""Nothing here, said in the asker's terms: a page with a way back for a person's browser
(a monitor's page for a name that is gone, a mistyped address), and the usual JSON
{"detail": ...} for the API and for scripts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ronda.web.auth import Auth, LoginRequired
from ronda.web.context import WebContext
from ronda.web.pages import Pages


def wants_a_page(request: Request) -> bool:
    """A browser asks for HTML; scripts and the API's clients do not (curl sends */*)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def not_found_handler(ctx: WebContext, auth: Auth) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The app's handler of HTTP errors: a 404 page for browsers, FastAPI's own answer for
    everything else."""
    pages = Pages(ctx)

    def page(request: Request, detail: str) -> Response:
        try:  # the logged-in see their own header (their name, the banners); others the bare page
            chrome = pages.chrome(auth.page(request))
        except LoginRequired:
            chrome = {}
        context = chrome | {"detail": detail}
        return pages.templates.TemplateResponse(request, "not_found.html", context, status_code=404)

    async def not_found(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code != 404 or not wants_a_page(request):
            return await http_exception_handler(request, exc)
        return await run_in_threadpool(page, request, exc.detail)  # reads the session from the store

    return not_found
