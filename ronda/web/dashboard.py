"""The dashboard: every monitor at a glance, a page per monitor, certificates by expiry,
incidents with their timelines; live through server-sent events. Pages are rendered on
the server from the store, so there is no build step and nothing to install."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from ronda.storage.store import UnknownMonitor
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.templating import make_templates

CHART_POINTS = 120  # response times drawn on a monitor's page: the latest checks
STATUS_ORDER = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}  # worst first on the board


def board(ctx: WebContext, now: datetime) -> dict[str, Any]:
    """The monitors, worst first, each with its uptime bars, and counts per status."""
    monitors = sorted(ctx.store.monitors(), key=lambda m: (STATUS_ORDER.get(m["status"], 2), m["name"]))
    for monitor in monitors:
        monitor["days"] = ctx.store.daily(monitor["name"], now)
    counts = {status: sum(1 for m in monitors if m["status"] == status) for status in STATUS_ORDER}
    return {"monitors": monitors, "counts": counts}


def latency_chart(results: list[dict[str, Any]], width: int = 600, height: int = 60) -> tuple[str, float]:
    """SVG polyline points of the answered checks' latencies, oldest on the left, and the
    latency at the top of the chart (a down check's time is how long it took to fail, not a
    response time, so it is left out)."""
    answered = [r for r in reversed(results) if r.get("latency_ms") is not None and r["status"] != "down"]
    latencies = [r["latency_ms"] for r in answered]
    if len(latencies) < 2:
        return "", 0.0
    top = max(latencies) or 1.0
    step = width / (len(latencies) - 1)
    points = ((i * step, height - value / top * (height - 4) - 2) for i, value in enumerate(latencies))
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points), top


def expiry_marks(certificates: list[dict[str, Any]], horizon_days: float = 120.0) -> list[dict[str, Any]]:
    """Each certificate's place on a timeline from today to `horizon_days` ahead (the
    expired at the left edge, the far-off at the right)."""
    marks = []
    for cert in certificates:
        days = cert["days_left"]
        kind = "expired" if days < 0 else "warning" if cert.get("problems") or days < 21 else ""
        marks.append({"left": max(0.0, min(days, horizon_days)) / horizon_days * 100, "kind": kind, "cert": cert})
    return marks


def dashboard_router(ctx: WebContext, auth: Auth) -> APIRouter:
    templates = make_templates()
    router = APIRouter(include_in_schema=True, tags=["dashboard"])
    page = Depends(auth.page)

    def render(request: Request, name: str, user: Principal, **context: Any) -> HTMLResponse:
        context |= {"user": user, "offline": not ctx.connectivity()["online"], "now": datetime.now(UTC)}
        return templates.TemplateResponse(request, name, context)

    @router.get("/", response_class=HTMLResponse, summary="Dashboard: every monitor, worst first (login)")
    def home(request: Request, user: Principal = page) -> HTMLResponse:
        return render(request, "dashboard.html", user, section="monitors", **board(ctx, datetime.now(UTC)))

    @router.get("/fragments/board", response_class=HTMLResponse, summary="The dashboard's monitor tiles (login)")
    def board_fragment(request: Request, user: Principal = page) -> HTMLResponse:
        return render(request, "_board.html", user, **board(ctx, datetime.now(UTC)))

    @router.get("/monitors/{name}", response_class=HTMLResponse, summary="A monitor's page (login)")
    def monitor_page(request: Request, name: str, user: Principal = page) -> HTMLResponse:
        try:
            monitor = ctx.store.monitor(name)
        except UnknownMonitor:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None
        now = datetime.now(UTC)
        results = ctx.store.results(name, CHART_POINTS)
        points, top_ms = latency_chart(results)
        certificates = [c for c in ctx.store.certificates(now) if any(p["monitor"] == name for p in c["places"])]
        incidents = [i for i in ctx.store.incidents(limit=1000) if i["monitor"] == name][:20]
        return render(
            request,
            "monitor.html",
            user,
            section="monitors",
            monitor=monitor,
            days=ctx.store.daily(name, now),
            uptime=ctx.store.uptime(name, now)["windows"],
            results=results[:30],
            results_count=len(results),
            top_ms=top_ms,
            points=points,
            certificates=certificates,
            incidents=incidents,
        )

    @router.get("/certificates", response_class=HTMLResponse, summary="Every certificate, soonest expiry first (login)")
    def certificates_page(request: Request, user: Principal = page) -> HTMLResponse:
        certificates = ctx.store.certificates(datetime.now(UTC))
        return render(
            request,
            "certificates.html",
            user,
            section="certificates",
            certificates=certificates,
            marks=expiry_marks(certificates),
        )

    @router.get("/incidents", response_class=HTMLResponse, summary="Incidents with their timelines (login)")
    def incidents_page(request: Request, user: Principal = page) -> HTMLResponse:
        incidents = ctx.store.incidents(limit=100)
        return render(request, "incidents.html", user, section="incidents", incidents=incidents)

    @router.get(
        "/live",
        response_class=EventSourceResponse,
        summary="Server-sent events: each verdict and notice as it happens, for open pages (login)",
    )
    async def live(_user: Principal = page) -> AsyncIterator[ServerSentEvent]:
        queue = ctx.live.subscribe()
        try:
            while True:
                event = await queue.get()
                yield ServerSentEvent(data=event, event="change")
        finally:
            ctx.live.unsubscribe(queue)

    return router
