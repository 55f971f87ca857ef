"""The HTTP face of `ronda run`: the JSON API of CONTRACT.md section 4, /metrics and /healthz."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from ronda import __version__
from ronda.notify.outbox import Ledger
from ronda.storage.incident_log import HumanStatus
from ronda.storage.store import Store, UnknownIncident, UnknownMonitor
from ronda.web.auth import bearer_guard
from ronda.web.metrics import metrics_registry


class HumanUpdate(BaseModel):
    """An incident post, as on a status page."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "identified", "message": "A certificate renewal failed; renewing by hand."}]
        },
    )

    status: HumanStatus
    message: str = Field(min_length=1, max_length=5000)
    author: str = Field(default="api", min_length=1, max_length=64)


def create_app(
    store: Store,
    token: str,
    alive: Callable[[], bool],
    scheduler_stats: Callable[[], dict[str, float]],
    connectivity: Callable[[], dict[str, Any]] | None = None,
    notify: Callable[[], None] | None = None,
) -> FastAPI:
    """`notify` is called after the API wrote a notice to the outbox (a person's post), so
    the sender delivers it now rather than at its next look."""
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

    @api.get(
        "/monitors/{name}/uptime",
        summary="A monitor's uptime and response times over 24 h, 7 d, 30 d and 90 d, per check",
    )
    def uptime(name: str) -> dict[str, Any]:
        try:
            return store.uptime(name, datetime.now(UTC))
        except UnknownMonitor:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None

    @api.get("/incidents", summary="Incidents, newest first, with their timelines")
    def incidents(open: bool = False, limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return store.incidents(open_only=open, limit=limit)

    @api.post(
        "/incidents/{incident_id}/updates",
        status_code=201,
        summary="Post a human update on an incident's timeline (resolved closes it)",
    )
    def post_update(incident_id: int, update: HumanUpdate) -> dict[str, Any]:
        try:
            store.post_update(incident_id, update.status, update.message, update.author, datetime.now(UTC))
        except UnknownIncident:
            raise HTTPException(404, detail=f"no incident {incident_id}") from None
        if notify is not None:
            notify()
        return store.incident(incident_id)

    @api.get("/certificates", summary="Every certificate seen, soonest expiry first")
    def certificates() -> list[dict[str, Any]]:
        return store.certificates(datetime.now(UTC))

    outbox = Ledger(store.engine)

    @api.get("/notifications", summary="Notices in the outbox, newest first: pending, sent or failed")
    def notifications(
        status: Literal["pending", "sent", "failed"] | None = None, limit: int = Query(200, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        return outbox.listing(status, limit)

    registry = metrics_registry(store, scheduler_stats)

    @app.get("/metrics", summary="Prometheus exposition (bearer token)", dependencies=[Depends(guard)])
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def own_status() -> dict[str, Any]:
        return connectivity() if connectivity else {"online": True, "since": None, "canaries": []}

    @api.get("/status", summary="ronda's own connectivity: online, or cut off (canaries all failing), and its history")
    def status() -> dict[str, Any]:
        return own_status() | {"history": store.connectivity()}

    @app.get("/healthz", summary="200 while the scheduler is alive (no token); says whether ronda is online")
    def healthz() -> JSONResponse:
        ok = alive()
        body = {"status": "ok" if ok else "stalled", "online": own_status()["online"], "version": __version__}
        return JSONResponse(body, 200 if ok else 503)

    app.include_router(api)
    return app
