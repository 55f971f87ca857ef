"""The HTTP face of `ronda run`: the JSON API, the dashboard, the public status page,
/metrics and /healthz, composed from one router per concern."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ronda import __version__
from ronda.web.api import api_router
from ronda.web.auth import Auth, LoginRequired
from ronda.web.context import WebContext
from ronda.web.dashboard import dashboard_router
from ronda.web.metrics import metrics_registry
from ronda.web.templating import STATIC


def create_app(ctx: WebContext) -> FastAPI:
    app = FastAPI(title="ronda", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    auth = Auth(ctx.store, ctx.token)

    @app.exception_handler(LoginRequired)
    def to_login(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    app.include_router(api_router(ctx, auth))
    app.include_router(dashboard_router(ctx, auth))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    registry = metrics_registry(ctx.store, ctx.scheduler_stats)

    @app.get("/metrics", summary="Prometheus exposition (bearer token)", dependencies=[Depends(auth.api)])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", summary="200 while the scheduler is alive (no token); says whether ronda is online")
    def healthz() -> JSONResponse:
        ok = ctx.alive()
        body = {"status": "ok" if ok else "stalled", "online": ctx.connectivity()["online"], "version": __version__}
        return JSONResponse(body, 200 if ok else 503)

    return app
