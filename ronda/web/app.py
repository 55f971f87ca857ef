"""The HTTP face of `ronda run`: the JSON API, the dashboard, the public status page,
/metrics and /healthz, composed from one router per concern."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from ronda import __version__
from ronda.web.accounts import accounts_router, form_expired_handler
from ronda.web.agents_api import agent_calling, agents_router
from ronda.web.agents_page import agents_pages
from ronda.web.announcements_api import announcements_router
from ronda.web.announcements_page import announcements_pages
from ronda.web.api import api_router
from ronda.web.api_docs import add_api_docs
from ronda.web.auth import Auth, FormExpired, LoginRequired
from ronda.web.authfirst import CredentialsFirst
from ronda.web.clients import ForwardedFor
from ronda.web.confirm_api import confirm_router
from ronda.web.context import WebContext
from ronda.web.dashboard import dashboard_router
from ronda.web.headers import SecurityHeaders
from ronda.web.health import health_answer
from ronda.web.incidents_page import incidents_router
from ronda.web.metrics import metrics_router
from ronda.web.monitor_forms import monitor_forms_router
from ronda.web.monitor_page import monitor_router
from ronda.web.monitors_api import monitors_router
from ronda.web.not_found import not_found_handler
from ronda.web.push import push_router
from ronda.web.report_lane import ReportLane
from ronda.web.reports import ReportPosts, report_intake
from ronda.web.reports_api import reports_api_router
from ronda.web.status_page import status_router
from ronda.web.subscribers_api import subscribers_router
from ronda.web.subscriptions import subscriptions_router
from ronda.web.templating import STATIC


def create_app(ctx: WebContext) -> FastAPI:
    # Bodies are limited everywhere (Starlette's limit: a declared length over it is 413
    # before a byte is read, a chunked body is cut off there): the public routes (reports,
    # push calls, the login form) at server.max_public_body, those behind a login at max_body.
    limits = ctx.config.server
    app = FastAPI(
        title="ronda",
        version=__version__,
        docs_url=None,  # ronda serves its own, offline (ronda/web/api_docs.py)
        redoc_url=None,
        openapi_url="/api/openapi.json",
        max_body_size=limits.max_public_body,
        # ronda exports no OpenTelemetry (its /metrics are Prometheus's): FastAPI's own
        # asked the global providers whether to trace on every request, 4 µs each, a
        # twentieth of what a report costs.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    public_url = ctx.config.server.public_url or ""
    posts = ReportPosts(ctx, report_intake(ctx))
    # Innermost, so every middleware below applies to the reports it answers too.
    app.add_middleware(ReportLane, posts=posts)
    app.add_middleware(SecurityHeaders, https=public_url.startswith("https://"))
    auth = Auth(ctx.db, ctx.token, public_url=ctx.config.server.public_url)
    app.add_middleware(
        CredentialsFirst, auth=auth, agent=lambda request: agent_calling(ctx, request)
    )  # a stranger's body is never read, let alone parsed
    # Added last, so outermost: every other part sees the client the trusted proxy names.
    app.add_middleware(ForwardedFor, trusted=ctx.config.server.trusted_proxies)

    @app.exception_handler(LoginRequired)
    def to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    app.add_exception_handler(FormExpired, form_expired_handler())
    # A 404 is a page with a way back for a browser, JSON for the API and scripts.
    app.add_exception_handler(StarletteHTTPException, not_found_handler(ctx, auth))

    # What crowds ask for comes first: FastAPI tries the routers in this order, each route
    # of each (a badge behind every API and dashboard route cost 0.1 ms more a request).
    @app.get("/healthz", summary="200 while the scheduler is alive (no token); says whether ronda is online")
    async def healthz() -> JSONResponse:
        # On the loop, not in a worker thread: two reads of values the checks' thread sets,
        # answered even while a flood of requests holds every worker thread.
        return health_answer(ctx.alive, ctx.connectivity, role=ctx.role)

    app.include_router(status_router(ctx, posts))
    app.include_router(subscriptions_router(ctx, posts.tokens))
    app.include_router(push_router(ctx))
    app.include_router(api_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(monitors_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(confirm_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(reports_api_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(accounts_router(ctx, auth))
    app.include_router(agents_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(agents_pages(ctx, auth), max_body_size=limits.max_body)
    app.include_router(dashboard_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(monitor_forms_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(monitor_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(incidents_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(announcements_router(ctx, auth), max_body_size=limits.max_body)
    app.include_router(announcements_pages(ctx, auth), max_body_size=limits.max_body)
    app.include_router(subscribers_router(ctx, auth), max_body_size=limits.max_body)
    add_api_docs(app, "/api/openapi.json")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(metrics_router(ctx, auth), max_body_size=limits.max_body)

    return app
