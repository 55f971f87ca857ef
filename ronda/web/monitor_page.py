"""A monitor's page: now, the page as its last failing browser check saw it, its uptime, its
response time over a chosen span (an hour to 90 days) with its incidents and failed checks,
its vantage points, certificates, incidents, users' reports and latest checks; and the
certificates page's expiry calendar.

The page's changing parts are one template (_monitor.html), which the page includes and
/fragments/monitors/{name} answers alone, so live.js redraws them in place at the monitor's
checks instead of reloading the page."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from ronda.durations import format_duration
from ronda.rules.public_status import PROBLEM_WORDS
from ronda.service.report_watch import watch_settings
from ronda.storage.arrivals import UnknownMonitor
from ronda.web.auth import Auth, Principal
from ronda.web.charts import DEFAULT_SPAN, SPANS, expiry_calendar, time_chart
from ronda.web.context import WebContext
from ronda.web.pages import Pages
from ronda.web.push import PushLinks
from ronda.web.report_chart import LEVEL_WORDS, report_chart
from ronda.web.screenshots import JPEG, screenshot_answer
from ronda.web.shapes import VANTAGE_SPAN, certificate_json, incident_json, vantage_json

LATEST_CHECKS = 30  # rows of the latest checks' table
SpanKey = Literal["hour", "day", "week", "90d"]
SPAN_QUERY = Query(DEFAULT_SPAN, description="how far back the response-time chart reaches")


def monitor_parts(ctx: WebContext, links: PushLinks, name: str, user: Principal, span_key: str) -> dict[str, Any]:
    """What _monitor.html draws of the monitor `name` (404 if there is none)."""
    try:
        monitor = links.shaped_one(ctx.db.monitors.get(name), user)
    except UnknownMonitor:
        raise HTTPException(404, detail=f"no monitor named {name!r}") from None
    now, span = ctx.clock(), SPANS[span_key]
    since, until = span.window(now)
    surges = ctx.db.reports.surges.under_way()
    surge_settings = watch_settings(ctx.config.reports).surge
    return {
        "monitor": monitor,
        "screenshot": ctx.db.screenshots.latest(name),  # its latest failing browser check's
        "now": now,
        "span": span,
        "spans": SPANS,
        "response_chart": time_chart(ctx.db.series.span(name, since, until, span.slot), span, name),
        "days": ctx.db.monitors.daily(name, now),
        "uptime": ctx.db.monitors.uptime(name, now).windows,
        "results": ctx.db.monitors.results(name, LATEST_CHECKS),
        "certificates": [certificate_json(c) for c in ctx.db.certificates.inventory(now, monitor=name)],
        "incidents": [incident_json(i) for i in ctx.db.incidents.recent(limit=20, monitor=name)],
        "vantages": [vantage_json(v) for v in ctx.db.monitors.vantages(name, now - VANTAGE_SPAN)],
        "run_time": format_duration,  # a push monitor's job: "ran 4 min 12 s"
        "reports": report_chart(ctx.db.reports.counts, surges.get(name), name, now, surge_settings),
        "comments": [r for r in ctx.db.reports.latest(20, service=name) if r.comment][:5],
        "level_words": LEVEL_WORDS,
        "problem_words": PROBLEM_WORDS,
    }


def monitor_router(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    pages = Pages(ctx)
    links = PushLinks(ctx)
    page = Depends(auth.page)
    # The fragment answers 401 rather than the login page's redirect: live.js would follow it
    # and draw the login form into the page; a refused fetch leaves the page as it was.
    part = Depends(auth.api)

    @router.get("/monitors/{name}", response_class=HTMLResponse, summary="A monitor's page (login)")
    def monitor_page(request: Request, name: str, user: Principal = page, span: SpanKey = SPAN_QUERY) -> HTMLResponse:
        parts = monitor_parts(ctx, links, name, user, span)
        return pages.render(request, "monitor.html", user, section="monitors", **parts)

    @router.get(
        "/fragments/monitors/{name}",
        response_class=HTMLResponse,
        summary="The changing parts of a monitor's page, for live.js to redraw in place (login)",
    )
    def monitor_fragment(name: str, user: Principal = part, span: SpanKey = SPAN_QUERY) -> HTMLResponse:
        return pages.fragment("_monitor.html", **monitor_parts(ctx, links, name, user, span))

    @router.get(
        "/monitors/{name}/screenshots/{shot_id}",
        response_class=Response,
        responses=JPEG,
        summary="A failing browser check's screenshot, as the monitor's page shows it (login)",
        dependencies=[part],
    )
    def screenshot(name: str, shot_id: int) -> Response:
        return screenshot_answer(ctx, name, shot_id)

    @router.get("/certificates", response_class=HTMLResponse, summary="Every certificate, soonest expiry first (login)")
    def certificates_page(request: Request, user: Principal = page) -> HTMLResponse:
        now = ctx.clock()
        records = ctx.db.certificates.inventory(now)
        return pages.render(
            request,
            "certificates.html",
            user,
            section="certificates",
            certificates=[certificate_json(c) for c in records],
            calendar=expiry_calendar(records, now),
        )

    return router
