"""SVG badges in the shields.io style, for READMEs and intranet pages: a page's overall
state, and a monitor's state or uptime (only monitors some status page shows: badges are
public). Text is escaped by the template's autoescape, widths estimated from the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from ronda.records import MonitorRecord
from ronda.rules.public_status import Overall, component_state, in_maintenance, public_monitors
from ronda.storage.stats import WINDOWS
from ronda.web.context import WebContext
from ronda.web.templating import make_templates

SVG = "image/svg+xml"
SVG_RESPONSE: dict[int | str, dict[str, object]] = {200: {"content": {SVG: {}}, "description": "An SVG badge"}}
CACHE = "public, max-age=60"  # badges are fetched by every page view of a README: a minute is fresh enough

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


def response(badge: Badge) -> Response:
    svg = _templates.env.get_template("status_badge.svg").render(badge=badge)
    return Response(svg, media_type=SVG, headers={"Cache-Control": CACHE})


def badges_router(ctx: WebContext) -> APIRouter:
    router = APIRouter(prefix="/badge")

    def public(name: str) -> MonitorRecord:
        stored = {m.name: m for m in ctx.db.monitors.active()}
        if name not in stored or name not in public_monitors(ctx.config, list(stored)):
            raise HTTPException(404, detail="no status page shows a monitor of that name")
        return stored[name]

    @router.get("/{monitor}/status.svg", responses=SVG_RESPONSE, summary="SVG badge of a public monitor's state")
    def status(monitor: str) -> Response:
        found = public(monitor)
        status = found.status
        maintenance = in_maintenance(ctx.config, monitor, ctx.clock())
        state = component_state(status, found.cause, maintenance)
        return response(monitor_badge(monitor, state, status))

    @router.get("/{monitor}/uptime.svg", responses=SVG_RESPONSE, summary="SVG badge of a public monitor's uptime")
    def uptime(
        monitor: str, period: Literal["24h", "7d", "30d", "90d"] = Query("30d", description="the window")
    ) -> Response:
        public(monitor)
        now = ctx.clock()
        return response(uptime_badge(period, ctx.db.monitors.uptime_between(monitor, now - WINDOWS[period], now)))

    return router
