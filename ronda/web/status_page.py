"""The public status page: /status and /status/{slug} (HTML), with its Atom feed,
Statuspage-shaped summary.json and SVG badge beside it. No token: everything here is
for strangers, so it shows monitors' names, never their targets."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ronda.config.schema import StatusPage
from ronda.rules.public_status import (
    HUMAN_STATUS_WORDS,
    NO_DATA,
    PROBLEM_WORDS,
    STATE_WORDS,
    find_page,
    human_status,
    incident_title,
    pages,
    public_words,
    update_status,
)
from ronda.service.report_watch import watch_settings
from ronda.web import badges, feeds
from ronda.web.context import WebContext
from ronda.web.i18n import LOCALES, negotiate, templates_for, translations
from ronda.web.report_chart import LEVEL_WORDS, ReportChart, report_chart
from ronda.web.reports import ReportIntake, report_form_tokens, reports_router
from ronda.web.status_view import View, gather

HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}, "description": "An HTML page"}}


def page_url(ctx: WebContext, page: StatusPage) -> str:
    return f"{ctx.config.server.base_url}/status/{page.slug}"


def incident_views(view: View, locale: str) -> list[dict[str, Any]]:
    """Incidents as the page shows them: titles and timelines in the visitor's words."""
    _ = translations(locale).gettext
    out = []
    for incident in view.incidents:
        status = "investigating"
        entries = []
        for update in incident.updates:
            status = update_status(update, status)
            words = public_words(update, view.names, _)
            if words is not None:
                entries.append({"at": update.at, "status": status, "words": words, "human": update.kind == "human"})
        out.append(
            {
                "id": incident.id,
                "title": incident_title(incident, _),
                "status": human_status(incident),
                "open": incident.status == "open",
                "severity": incident.severity,
                "opened_at": incident.opened_at,
                "resolved_at": incident.resolved_at,
                "duration_s": incident.duration_s,
                "planned": incident.planned,
                "components": [name for name in incident.monitors if name in view.names],
                "updates": list(reversed(entries)),  # newest first, as status pages show them
            }
        )
    return out


class ChartCache:
    """Each service's report chart, kept half a minute: the page is public and may be loaded
    often during an outage, and a chart reads weeks of counts (docs/reports.md)."""

    TTL = 30.0

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.counts = ctx.db.reports.counts
        self.surges = ctx.db.reports.surges
        self._kept: dict[tuple[str, str], tuple[float, ReportChart]] = {}

    def for_services(self, names: list[str], now: datetime, locale: str) -> list[ReportChart]:
        settings = watch_settings(self.ctx.config.reports).surge
        out, under_way = [], None
        for name in names:
            kept = self._kept.get((name, locale))
            if kept is None or time.monotonic() - kept[0] > self.TTL:
                under_way = self.surges.under_way() if under_way is None else under_way  # one read for the page
                chart = report_chart(self.counts, under_way.get(name), name, now, settings, locale)
                kept = self._kept[(name, locale)] = (time.monotonic(), chart)
            out.append(kept[1])
        return out


def status_router(ctx: WebContext, intake: ReportIntake | None = None) -> APIRouter:
    """The status page's routes, and the report intake its form posts to."""
    tokens = report_form_tokens()
    intake = intake or ReportIntake(ctx.db.reports, settings=lambda: ctx.config.reports, clock=ctx.clock)
    router = APIRouter(tags=["status page (public)"])

    charts = ChartCache(ctx)

    def view_of(slug: str | None) -> View | None:
        page = find_page(ctx.config, slug)
        return None if page is None else gather(ctx, page, ctx.clock())

    def known(slug: str | None) -> View:
        view = view_of(slug)
        if view is None:
            raise HTTPException(404, detail=f"no status page {slug!r}")
        return view

    def render(request: Request, slug: str | None, lang: str | None) -> Response:
        locale = negotiate(request.headers.get("accept-language", ""), lang)
        templates = templates_for(locale)
        view = view_of(slug)
        if view is None:
            context: dict[str, Any] = {"lang": locale, "slug": slug, "pages": pages(ctx.config)}
            response: Response = templates.TemplateResponse(request, "status_404.html", context, status_code=404)
        else:
            token = tokens.token(request)
            context = {
                "lang": locale,
                "locales": LOCALES,
                "view": view,
                "url": page_url(ctx, view.page),
                "incidents": incident_views(view, locale),
                "state_words": STATE_WORDS,
                "status_words": HUMAN_STATUS_WORDS,
                "problem_words": PROBLEM_WORDS,
                "no_data": NO_DATA,
                "form_token": token,
                "report": request.query_params.get("report"),
                "report_field": request.query_params.get("field"),
                "charts": charts.for_services(view.names, view.now, locale),
                "level_words": LEVEL_WORDS,
            }
            response = templates.TemplateResponse(request, "status.html", context)
            tokens.set_cookie(response, token, secure=request.url.scheme == "https")
        response.headers["Content-Language"] = locale
        response.headers["Vary"] = "Accept-Language"
        return response

    lang_query = Query(None, description="en or it: overrides Accept-Language")

    @router.get("/status", response_class=HTMLResponse, responses=HTML, summary="The public status page (no token)")
    def default_page(request: Request, lang: str | None = lang_query) -> Response:
        return render(request, None, lang)

    @router.get(
        "/status/feed.atom",
        responses=feeds.ATOM_RESPONSE,
        summary="Atom feed of the default status page's incidents (no token)",
    )
    def default_feed(request: Request, lang: str | None = lang_query) -> Response:
        return atom(request, None, lang)

    @router.get(
        "/status/summary.json",
        summary="The default status page in the shape of Statuspage's summary.json v2 (no token)",
    )
    def default_summary(request: Request) -> JSONResponse:
        return summary(request, None)

    @router.get("/status/badge.svg", responses=badges.SVG_RESPONSE, summary="SVG badge of the default page's state")
    def default_badge() -> Response:
        return page_badge(None)

    @router.get("/status/{slug}", response_class=HTMLResponse, responses=HTML, summary="A public status page")
    def named_page(request: Request, slug: str, lang: str | None = lang_query) -> Response:
        return render(request, slug, lang)

    @router.get("/status/{slug}/feed.atom", responses=feeds.ATOM_RESPONSE, summary="Atom feed of a page's incidents")
    def named_feed(request: Request, slug: str, lang: str | None = lang_query) -> Response:
        return atom(request, slug, lang)

    @router.get("/status/{slug}/summary.json", summary="A status page as Statuspage's summary.json v2")
    def named_summary(request: Request, slug: str) -> JSONResponse:
        return summary(request, slug)

    @router.get("/status/{slug}/badge.svg", responses=badges.SVG_RESPONSE, summary="SVG badge of a page's state")
    def named_badge(slug: str) -> Response:
        return page_badge(slug)

    def atom(request: Request, slug: str | None, lang: str | None) -> Response:
        locale = negotiate(request.headers.get("accept-language", ""), lang)
        view = known(slug)
        url = page_url(ctx, view.page)
        body = feeds.atom(view, incident_views(view, locale), url, locale)
        headers = {"Content-Language": locale, "Vary": "Accept-Language", "Cache-Control": "public, max-age=60"}
        return Response(body, media_type=feeds.ATOM, headers=headers)

    def summary(request: Request, slug: str | None) -> JSONResponse:
        view = known(slug)
        body = feeds.summary(view, incident_views(view, "en"), page_url(ctx, view.page))
        return JSONResponse(body, headers={"Cache-Control": "public, max-age=30"})

    def page_badge(slug: str | None) -> Response:
        view = known(slug)
        return badges.response(badges.page_badge(view.page.title, view.overall))

    router.include_router(badges.badges_router(ctx))
    router.include_router(reports_router(ctx, intake, tokens))
    return router
