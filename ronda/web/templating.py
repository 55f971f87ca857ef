"""Server-rendered pages: one Jinja environment for the dashboard and the status page,
autoescaped, with the filters the templates share."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from ronda.causes import words
from ronda.records import DayFigures
from ronda.verdict import parse_iso

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@pass_context
def ago_filter(context: Context, value: str | datetime | None) -> str:
    """The `ago` filter: measured from the page's `now`, which every page that shows times
    is rendered with (from the web context's clock), so a test's pinned moment holds here too."""
    return ago(value, context["now"])


def ago(value: str | datetime | None, now: datetime) -> str:
    """'3 min ago', for people; the exact time goes in a title attribute beside it."""
    if value is None:
        return "never"
    at = parse_iso(value) if isinstance(value, str) else value
    seconds = max((now - at).total_seconds(), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def day_bars(
    days: Sequence[DayFigures],
    no_data: str,
    day_words: Callable[[date], str] = date.isoformat,
    percent_words: Callable[[float], str] = "{:.2f}".format,
) -> Markup:
    """Uptime bars, one span per day titled with its day and uptime. Written here rather
    than as a loop in a template: a board of 200 tiles or a status page of 1,000 components
    has tens of thousands of them, and Jinja's loop was most of the page's making."""
    return Markup(
        "".join(
            _day_span(d.status, day_words(d.day), no_data if d.uptime is None else f"{percent_words(d.uptime)}%")
            for d in days
        )
    )


@lru_cache(maxsize=8192)
def _day_span(status: str, day: str, figure: str) -> str:
    # Most bars repeat (the same 90 days, mostly 100 %): escaped once, not on every page.
    return f'<span class="{escape(status)}" title="{escape(day)}: {escape(figure)}"></span>'


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(
        ago=ago_filter,
        duration=duration,
        cause_words=lambda code: words(code) if code else "",
        # A report's comment is stored HTML-escaped (ronda/web/reports.py); undone here so
        # autoescape escapes it once, never twice (and a row stored raw is escaped too).
        report_comment=lambda stored: html.unescape(stored or ""),
        day_bars=day_bars,  # the dashboard's: ISO days; a status page's speak its language (i18n.py)
    )
    return Jinja2Templates(env=env)
