"""JSON problem reports answered in front of FastAPI's router: the one public route a
stranger can post to thousands of times a second (issue 13: 2,000 reports a second beside
1,000 monitors).

Finding the route cost more than everything else a report does: FastAPI matches a path
against each included router in turn, and `POST /api/v1/reports` sits behind every route
of the API, the accounts and the dashboard (0.42 ms of CPU per report in all, 0.25 ms of
it matching; bench/flood.py, docs/benchmarks.md). This pure ASGI wrapper sends a JSON post
to that path straight to the same `ReportPosts.answer` the route calls, inside every other
middleware (trusted proxies, credentials first, body limits, security headers), so the
answer is the same byte for byte. Anything else, the status page's form and any other type
among it, goes on to the router as before, and the route stays in the OpenAPI docs.

A bad post is answered by FastAPI's own default handlers (ronda sets no others for these
two), as the router would: 413 and 415 as `{"detail": ...}`, 422 naming each wrong field.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from ronda.web.headers import App, Receive, Scope, Send
from ronda.web.reports import JSON, ReportPosts, media_type

PATH = "/api/v1/reports"


class ReportLane:
    def __init__(self, app: App, posts: ReportPosts) -> None:
        self.app = app
        self.posts = posts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_json_report(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        try:
            response = await self.posts.answer(request)
        except HTTPException as exc:
            response = await http_exception_handler(request, exc)
        except RequestValidationError as exc:
            response = await request_validation_exception_handler(request, exc)
        await response(scope, receive, send)


def is_json_report(scope: Scope) -> bool:
    """A POST of JSON to the report route (the path as the router would match it)."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or scope.get("root_path"):
        return False
    for name, value in scope["headers"]:
        if name == b"content-type":  # the first, as Request.headers.get reads it
            return media_type(value.decode("latin-1")) == JSON
    return False
