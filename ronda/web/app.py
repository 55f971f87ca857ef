"""The HTTP face of `ronda run`: the JSON API of CONTRACT.md section 4, /metrics and /healthz."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ronda import __version__
from ronda.storage.store import Store, UnknownMonitor
from ronda.web.auth import bearer_guard
from ronda.web.metrics import metrics_registry


def create_app(
    store: Store, token: str, alive: Callable[[], bool], scheduler_stats: Callable[[], dict[str, float]]
) -> FastAPI:
    app = FastAPI(title="ronda", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json")
    guard = bearer_guard(token)
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(guard)])

    @api.get("/monitors", summary="Every monitor with its state and latest verdict")
    def monitors() -> list[dict[str, Any]]:
        return store.monitors()

    @api.get("/monitors/{name}", summary="One monitor with its state and latest verdict")
    def monitor(name: str) -> dict[str, Any]:
        try:
            return store.monitor(name)
        except UnknownMonitor:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None

    @api.get("/monitors/{name}/results", summary="A monitor's verdicts, newest first")
    def results(name: str, limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        try:
            return store.results(name, limit)
        except UnknownMonitor:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None

    @api.get("/incidents", summary="Incidents, newest first, with their timelines")
    def incidents(open: bool = False, limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return store.incidents(open_only=open, limit=limit)

    @api.get("/certificates", summary="Every certificate seen, soonest expiry first")
    def certificates() -> list[dict[str, Any]]:
        return store.certificates(datetime.now(UTC))

    registry = metrics_registry(store, scheduler_stats)

    @app.get("/metrics", summary="Prometheus exposition (bearer token)", dependencies=[Depends(guard)])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", summary="200 while the scheduler is alive (no token)")
    def healthz() -> JSONResponse:
        ok = alive()
        return JSONResponse({"status": "ok" if ok else "stalled", "version": __version__}, 200 if ok else 503)

    app.include_router(api)
    return app
