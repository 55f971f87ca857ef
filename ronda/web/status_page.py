"""The public status page: /status and /status/{slug} (HTML), with its Atom feed,
Statuspage-shaped summary.json and SVG badge beside it. No token: everything here is
for strangers, so it shows monitors' names, never their targets."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from markupsafe import Markup

from ronda.config.schema import LOCAL_REGION, LOGO_TYPES, StatusPage
from ronda.records import PublicIncident
from ronda.rules.public_status import (
    FLAPS_WORDS,
    HUMAN_STATUS_WORDS,
    NO_DATA,
    PROBLEM_WORDS,
    STATE_WORDS,
    Flaps,
    Gettext,
    find_page,
    fold_flaps,
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
from ronda.web.public_cache import Body, Made, PublicViews, answer, digest
from ronda.web.report_chart import LEVEL_WORDS, ReportChart, quiet_chart, report_chart
from ronda.web.reports import ReportIn, ReportPosts, reports_router
from ronda.web.status_view import View

HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}, "description": "An HTML page"}}


def page_url(ctx: WebContext, page: StatusPage) -> str:
    return f"{ctx.config.server.base_url}/status/{page.slug}"


def timeline_entries(incident: PublicIncident, view: View, _: Gettext) -> list[dict[str, Any]]:
    """An incident's timeline in the visitor's words, oldest first: each entry with the
    incident's status as of it; a run of recoveries that did not last is one entry."""
    status, entries = "investigating", []
    named = view.page.display_name
    for item in fold_flaps(incident.updates):
        if isinstance(item, Flaps):
            status = "investigating"
            words = _(FLAPS_WORDS) % {"n": item.times}
            entries.append({"at": item.at, "until": item.until, "status": status, "words": words, "human": False})
            continue
        status = update_status(item, status)
        text = public_words(item, view.shown, _, named)
        if text is not None:
            entries.append({"at": item.at, "status": status, "words": text, "human": item.kind == "human"})
    return entries


def incident_views(view: View, locale: str) -> list[dict[str, Any]]:
    """Incidents as the page shows them: titles and timelines in the visitor's words."""
    _ = translations(locale).gettext
    named = view.page.display_name
    out = []
    for incident in view.incidents:
        entries = timeline_entries(incident, view, _)
        out.append(
            {
                "id": incident.id,
                "title": incident_title(incident, view.shown, _, named),
                "status": human_status(incident),
                "open": incident.status == "open",
                "severity": incident.severity,
                "opened_at": incident.opened_at,
                "resolved_at": incident.resolved_at,
                "duration_s": incident.duration_s,
                "planned": incident.planned,
                "components": [name for name in incident.monitors if name in view.shown],
                "affected": [named(name) for name in incident.monitors if name in view.shown],  # as visitors read them
                # Where it fails and works, by the agents' regions (the hub's own, "local",
                # says nothing to a visitor).
                "failing_from": [r for r in incident.regions if r != LOCAL_REGION],
                "working_from": [r for r in incident.working_regions if r != LOCAL_REGION],
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

    def for_services(self, view: View, locale: str) -> list[ReportChart]:
        settings = watch_settings(self.ctx.config.reports).surge
        out, under_way, reported = [], None, None
        for component in view.components:
            name, now = component.name, view.now
            kept = self._kept.get((name, locale))
            if kept is None or time.monotonic() - kept[0] > self.TTL:
                under_way = self.surges.under_way() if under_way is None else under_way  # one read for the page
                reported = self.counts.services() if reported is None else reported
                surge = under_way.get(name)
                if surge is None and name not in reported:
                    chart = quiet_chart(name, component.first_check, now, settings)
                else:
                    chart = report_chart(self.counts, surge, name, now, settings, locale)
                kept = self._kept[(name, locale)] = (time.monotonic(), chart)
            out.append(kept[1])
        return out


def status_router(ctx: WebContext, posts: ReportPosts) -> APIRouter:
    """The status page's routes, and the report intake its form posts to (`posts`, the
    one the JSON lane in front of the router answers with too: one set of limits)."""
    tokens = posts.tokens
    router = APIRouter(tags=["status page (public)"])

    charts = ChartCache(ctx)
    views = PublicViews(ctx)
    kept = views.kept

    def page_html(view: View, locale: str) -> Parts:
        """The page in one language, with marks where each visitor's own parts go."""
        context: dict[str, Any] = {
            "lang": locale,
            "locales": LOCALES,
            "view": view,
            "url": page_url(ctx, view.page),
            "incidents": incident_views(view, locale),
            "state_words": STATE_WORDS,
            "status_words": HUMAN_STATUS_WORDS,
            "problem_words": PROBLEM_WORDS,
            "no_data": NO_DATA,
            "form_token": TOKEN_MARK,
            "report_notice": NOTICE_MARK,
            "charts": charts.for_services(view, locale),
            "level_words": LEVEL_WORDS,
        }
        return Parts.of(templates_for(locale).env.get_template("status.html").render(context))

    def missing_html(locale: str) -> Body:
        context = {"lang": locale, "pages": pages(ctx.config)}
        return Body.of(templates_for(locale).env.get_template("status_404.html").render(context).encode(), HTML_TYPE)

    async def render(request: Request, slug: str | None, lang: str | None) -> Response:
        locale = negotiate(request.headers.get("accept-language", ""), lang)
        language = {"Content-Language": locale, "Vary": "Accept-Language"}
        made_view = await views.view(slug)
        if made_view is None:
            missing = await kept.get(("404", locale), lambda: missing_html(locale))
            return answer(request, missing.value, missing.at, language, status_code=404)
        view = made_view.value
        made = await kept.get(("html", view.page.slug, locale), lambda: page_html(view, locale), made_view.serial)
        token = tokens.token(request)
        notice = report_notice(locale, request.query_params.get("report"), request.query_params.get("field"))
        # The form's token is the visitor's own: the page may be kept by their browser, never by a shared cache.
        response = answer(
            request, made.value.fill(token, notice), made.at, language, cache_control="private, max-age=5"
        )
        tokens.set_cookie(response, token, secure=request.url.scheme == "https")
        return response

    lang_query = Query(None, description="en or it: overrides Accept-Language")

    @router.get("/status", response_class=HTMLResponse, responses=HTML, summary="The public status page (no token)")
    async def default_page(request: Request, lang: str | None = lang_query) -> Response:
        return await render(request, None, lang)

    @router.get(
        "/status/feed.atom",
        responses=feeds.ATOM_RESPONSE,
        summary="Atom feed of the default status page's incidents (no token)",
    )
    async def default_feed(request: Request, lang: str | None = lang_query) -> Response:
        return await atom(request, None, lang)

    @router.get(
        "/status/summary.json",
        summary="The default status page in the shape of Statuspage's summary.json v2 (no token)",
        response_class=JSONResponse,
    )
    async def default_summary(request: Request) -> Response:
        return await summary(request, None)

    @router.get("/status/badge.svg", responses=badges.SVG_RESPONSE, summary="SVG badge of the default page's state")
    async def default_badge(request: Request) -> Response:
        return await page_badge(request, None)

    @router.get("/status/{slug}", response_class=HTMLResponse, responses=HTML, summary="A public status page")
    async def named_page(request: Request, slug: str, lang: str | None = lang_query) -> Response:
        return await render(request, slug, lang)

    @router.get("/status/{slug}/feed.atom", responses=feeds.ATOM_RESPONSE, summary="Atom feed of a page's incidents")
    async def named_feed(request: Request, slug: str, lang: str | None = lang_query) -> Response:
        return await atom(request, slug, lang)

    @router.get(
        "/status/{slug}/summary.json",
        summary="A status page as Statuspage's summary.json v2",
        response_class=JSONResponse,
    )
    async def named_summary(request: Request, slug: str) -> Response:
        return await summary(request, slug)

    @router.get(
        "/status/{slug}/logo",
        response_class=FileResponse,
        responses={200: {"content": {"image/*": {}}, "description": "The page's logo"}},
        summary="A status page's logo, as its config names it (no token)",
    )
    async def logo(slug: str) -> FileResponse:
        page = find_page(ctx.config, slug)
        if page is None or page.logo is None:
            raise HTTPException(404, detail=f"no logo for the status page {slug!r}")
        kind = LOGO_TYPES[PurePath(page.logo).suffix.lower()]
        # An SVG opened on its own is a document: it may run nothing and load nothing.
        headers = {
            "Cache-Control": "public, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return FileResponse(page.logo, media_type=kind, headers=headers)

    @router.get("/status/{slug}/badge.svg", responses=badges.SVG_RESPONSE, summary="SVG badge of a page's state")
    async def named_badge(request: Request, slug: str) -> Response:
        return await page_badge(request, slug)

    async def known(slug: str | None) -> Made[View]:
        made = await views.view(slug)
        if made is None:
            raise HTTPException(404, detail=f"no status page {slug!r}")
        return made

    async def atom(request: Request, slug: str | None, lang: str | None) -> Response:
        locale = negotiate(request.headers.get("accept-language", ""), lang)
        made_view = await known(slug)
        view = made_view.value

        def make() -> Body:
            url = page_url(ctx, view.page)
            return Body.of(feeds.atom(view, incident_views(view, locale), url, locale), feeds.ATOM)

        made = await kept.get(("atom", view.page.slug, locale), make, made_view.serial)
        return answer(request, made.value, made.at, {"Content-Language": locale, "Vary": "Accept-Language"})

    async def summary(request: Request, slug: str | None) -> Response:
        made_view = await known(slug)
        view = made_view.value

        def make() -> Body:
            body = feeds.summary(view, incident_views(view, "en"), page_url(ctx, view.page))
            return Body.of(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), "application/json")

        made = await kept.get(("summary", view.page.slug), make, made_view.serial)
        return answer(request, made.value, made.at)

    async def page_badge(request: Request, slug: str | None) -> Response:
        made_view = await known(slug)
        view = made_view.value
        made = await kept.get(
            ("badge", view.page.slug),
            lambda: badges.body(badges.page_badge(view.page.title, view.overall)),
            made_view.serial,
        )
        return answer(request, made.value, made.at)

    router.include_router(badges.badges_router(ctx, views))
    router.include_router(reports_router(posts))
    return router


TOKEN_MARK = Markup("<!--ronda:form-token-->")  # autoescaped text can never contain "<": no page text forges a mark
NOTICE_MARK = Markup("<!--ronda:report-notice-->")
_MARKS = re.compile(rb"(<!--ronda:(?:form-token|report-notice)-->)")
HTML_TYPE = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Parts:
    """A kept page cut at its marks, so each answer is one join: the visitor's form token
    and report notice go in, and nothing is rendered per request."""

    pieces: tuple[bytes, ...]  # text, mark, text, mark, text ...
    etag: str

    @classmethod
    def of(cls, html: str) -> Parts:
        content = html.encode()
        return cls(tuple(_MARKS.split(content)), digest(content))

    def fill(self, token: str, notice: bytes) -> Body:
        own = {TOKEN_MARK.encode(): token.encode(), NOTICE_MARK.encode(): notice}
        content = b"".join(own.get(piece, piece) if i % 2 else piece for i, piece in enumerate(self.pieces))
        visitor = digest(token.encode() + b"\0" + notice)[:12]
        return Body(content, HTML_TYPE, f'"{self.etag}-{visitor}"')


REPORT_FIELDS = frozenset(ReportIn.model_fields)


@lru_cache(maxsize=64)
def _notice(locale: str, report: str, field: str) -> bytes:
    template = templates_for(locale).env.get_template("_report_notice.html")
    return template.render(report=report, report_field=field).encode()


def report_notice(locale: str, report: str | None, field: str | None) -> bytes:
    """What the form says after a post (the report intake redirects with ?report=...):
    only the words it knows, so the kept variants stay few."""
    if report in ("thanks", "counted"):
        return _notice(locale, report, "")
    if report == "invalid" and field in REPORT_FIELDS:
        return _notice(locale, report, field)
    return b""
