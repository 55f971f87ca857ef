"""SVG badges in the shields.io style, for READMEs and intranet pages: a page's overall
state, and a monitor's state or uptime (only monitors some status page shows: badges are
public; any other name is 404, the same whether it exists or not). Text is escaped by the
template's autoescape, widths estimated from the text."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from ronda.rules.public_status import Overall
from ronda.storage.stats import WINDOWS
from ronda.web.context import WebContext
from ronda.web.public_cache import Body, PublicViews, answer
from ronda.web.status_view import Component
from ronda.web.templating import make_templates

SVG = "image/svg+xml"
SVG_RESPONSE: dict[int | str, dict[str, object]] = {200: {"content": {SVG: {}}, "description": "An SVG badge"}}

# Colours with at least 4.5:1 contrast against the white text (WCAG AA).
GREEN, AMBER, RED, BLUE, GREY = "#137333", "#8a5300", "#b3261e", "#0b57d0", "#56606b"
STATE_BADGES = {
    "operational": ("operational", GREEN),
    "under_maintenance": ("maintenance", BLUE),
    "degraded_performance": ("degraded", AMBER),
    "partial_outage": ("partial outage", AMBER),
    "major_outage": ("major outage", RED),
}
OVERALL_COLOURS = {"operational": GREEN, "maintenance": BLUE, "degraded": AMBER, "partial": AMBER, "major": RED}

# Average advance of Verdana 11px (shields.io's font) per character class, in pixels.
_NARROW, _WIDE = set("fijlrt.,:;'!|()[] "), set("mwMW@%")


@dataclass(frozen=True)
class Badge:
    label: str
    message: str
    colour: str

    @property
    def label_width(self) -> int:
        return text_width(self.label) + 10

    @property
    def message_width(self) -> int:
        return text_width(self.message) + 10


def text_width(text: str) -> int:
    return round(sum(3.6 if c in _NARROW else 10.0 if c in _WIDE else 7.6 if c.isupper() else 6.6 for c in text))


def page_badge(title: str, state: Overall) -> Badge:
    return Badge(title, state.words.lower(), OVERALL_COLOURS[state.key])


def monitor_badge(name: str, state: str, status: str) -> Badge:
    if status == "unknown" and state == "operational":
        return Badge(name, "no data", GREY)
    message, colour = STATE_BADGES[state]
    return Badge(name, message, colour)


def uptime_badge(period: str, uptime: float | None) -> Badge:
    if uptime is None:
        return Badge(f"uptime {period}", "no data", GREY)
    colour = GREEN if uptime >= 99.9 else AMBER if uptime >= 99.0 else RED
    shown = f"{uptime:.2f}".rstrip("0").rstrip(".") if uptime < 100 else "100"
    return Badge(f"uptime {period}", f"{shown}%", colour)


_templates = make_templates()


def body(badge: Badge) -> Body:
    return Body.of(_templates.env.get_template("status_badge.svg").render(badge=badge).encode(), SVG)


NOT_SHOWN = "no status page shows a monitor of that name"  # the same for unknown and private names


def badges_router(ctx: WebContext, views: PublicViews) -> APIRouter:
    """Badges of the monitors some status page shows, made from the pages' kept views:
    one making per change, whatever the number of requests."""
    router = APIRouter(prefix="/badge")

    async def public(name: str) -> tuple[Component, Hashable]:
        shown, source = await views.components()
        if name not in shown:
            raise HTTPException(404, detail=NOT_SHOWN)
        return shown[name], source

    @router.get("/{monitor}/status.svg", responses=SVG_RESPONSE, summary="SVG badge of a public monitor's state")
    async def status(request: Request, monitor: str) -> Response:
        component, source = await public(monitor)
        badge = monitor_badge(component.shown_as, component.state, component.status)  # as the page names it
        made = await views.kept.get(("status.svg", monitor), lambda: body(badge), source)
        return answer(request, made.value, made.at)

    @router.get("/{monitor}/uptime.svg", responses=SVG_RESPONSE, summary="SVG badge of a public monitor's uptime")
    async def uptime(
        request: Request,
        monitor: str,
        period: Literal["24h", "7d", "30d", "90d"] = Query("30d", description="the window"),
    ) -> Response:
        _, source = await public(monitor)

        def make() -> Body:
            now = ctx.clock()
            return body(uptime_badge(period, ctx.db.monitors.uptime_between(monitor, now - WINDOWS[period], now)))

        made = await views.kept.get(("uptime.svg", monitor, period), make, source)
        return answer(request, made.value, made.at)

    return router
