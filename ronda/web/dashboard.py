"""The dashboard: every monitor at a glance, a page per monitor, certificates by expiry,
incidents with their timelines; live through server-sent events. Pages are rendered on
the server from the store, so there is no build step and nothing to install."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ronda.config.schema import Monitor, parse_monitor
from ronda.records import DayFigures, MonitorRecord
from ronda.rules.surge import Surge
from ronda.service.monitors import MonitorError, UnknownMonitorName
from ronda.storage.monitors import Selection
from ronda.storage.surges import Surges
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages
from ronda.web.public_cache import Kept
from ronda.web.shapes import monitor_json

STATUS_ORDER = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}  # worst first on the board


# Tiles on one board. Past that, people search, pick a status or page on: at 10,000
# monitors a board of every tile was 55 MB and half a minute to draw.
BOARD_TILES = 200
BoardStatus = Literal["down", "degraded", "unknown", "up"]


@dataclass(frozen=True)
class BoardView:
    """What the board shows: the worst monitors first (no choice made), or those in a status
    and with a text in their name or target, by name, a page after `after`."""

    status: BoardStatus | None = None
    q: str | None = None
    after: str | None = None

    @property
    def chosen(self) -> bool:
        return self.status is not None or bool(self.q) or self.after is not None

    def query(self) -> str:
        """The view as a URL's query ("" for the default)."""
        return urlencode({key: value for key, value in asdict(self).items() if value})


def board(ctx: WebContext, now: datetime, surges: Surges, view: BoardView = BoardView()) -> dict[str, Any]:
    """A page of monitors (`view`), each with its uptime bars and the level of a surge of
    users' reports under way; counts per status of all of them; the next page's view."""
    counts = ctx.db.monitors.count_by_status()
    if view.chosen:
        records = ctx.db.monitors.active(Selection(view.status, None, view.q, view.after, BOARD_TILES))
    else:
        records = _worst_first(ctx, BOARD_TILES)
    under_way = surges.under_way()
    days = ctx.db.monitors.daily_many([m.name for m in records], now)  # every tile's bars in one read
    following = None
    if len(records) == BOARD_TILES:  # perhaps more: on from the last tile, in its status
        last = records[-1]
        following = BoardView(cast(BoardStatus, view.status or last.status), view.q, last.name)
    return {
        "monitors": [_tile(m, days.get(m.name, []), under_way.get(m.name)) for m in records],
        "counts": {status: counts.get(status, 0) for status in STATUS_ORDER},
        "total": sum(counts.values()),
        "view": view,
        "following": following,
    }


def _worst_first(ctx: WebContext, limit: int) -> list[MonitorRecord]:
    """Down, then degraded, then not checked yet, then up, each by name: `limit` at most."""
    records: list[MonitorRecord] = []
    for status in sorted(STATUS_ORDER, key=STATUS_ORDER.__getitem__):
        if len(records) < limit:
            records += ctx.db.monitors.active(Selection(status, None, None, None, limit - len(records)))
    return records


def _tile(monitor: MonitorRecord, days: list[DayFigures], surge: Surge | None) -> dict[str, Any]:
    """A monitor's tile: its JSON, as the API shows it, with its days and any surge."""
    level = surge.level.word if surge is not None and surge.level else None
    return monitor_json(monitor) | {"days": days, "surge": level}


# The board is drawn at most this often, for every open tab together: a dashboard hears each
# verdict (dozens a second at 1,000 monitors) and once redrew all tiles for each.
BOARD_REFRESH = timedelta(seconds=5)


def monitor_from_form(form: dict[str, str]) -> Monitor:
    """A monitor from the dashboard's form: the fields a person fills in, checked by the
    same model as the config file's monitors (ValidationError names the field)."""
    spec: dict[str, Any] = {"name": form.get("name", "").strip(), "url": form.get("url", "").strip()}
    if form.get("interval", "").strip():
        spec["interval"] = form["interval"].strip()
    expect = {key: form[f"expect_{key}"].strip() for key in ("status", "text") if form.get(f"expect_{key}", "").strip()}
    if expect:
        spec["expect"] = expect
    tags = [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()]
    if tags:
        spec["tags"] = tags
    return parse_monitor(spec)


def form_errors(exc: ValidationError | MonitorError) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return [str(exc)]


def dashboard_router(ctx: WebContext, auth: Auth) -> APIRouter:
    pages = Pages(ctx)
    templates = pages.templates
    router = APIRouter(include_in_schema=True, tags=["dashboard"])
    page = Depends(auth.page)
    editor_page = Depends(auth.page_as("editor"))
    editor_form = Depends(auth.form_as("editor"))
    surges = ctx.db.reports.surges

    kept = Kept(ctx)

    def render(request: Request, name: str, user: Principal, **context: Any) -> HTMLResponse:
        return pages.render(request, name, user, **context)

    def board_html(view: BoardView = BoardView()) -> str:
        now = ctx.clock()
        context = board(ctx, now, surges, view) | {"can_add": ctx.monitors is not None, "now": now}
        return templates.env.get_template("_board.html").render(context)

    async def board_of(view: BoardView) -> str:
        """The tiles, the same for every user. The usual board (worst first) is made in a
        worker thread at most once per BOARD_REFRESH however many tabs ask; a search or a
        page of one's own is made for its request (a page of BOARD_TILES at most)."""
        if view.chosen:
            return await run_in_threadpool(board_html, view)
        return (await kept.get("board", board_html, max_age=BOARD_REFRESH)).value

    def view_of(
        status: BoardStatus | None = None,
        q: str | None = Query(None, max_length=200, description="a text in the name or target"),
        after: str | None = Query(None, max_length=200, description="the last name of the page before"),
    ) -> BoardView:
        return BoardView(status, q or None, after)

    chosen_view = Depends(view_of)

    @router.get("/", response_class=HTMLResponse, summary="Dashboard: the worst monitors first, or a search (login)")
    async def home(request: Request, user: Principal = page, view: BoardView = chosen_view) -> HTMLResponse:
        tiles = Markup(await board_of(view))  # rendered from the store, escaped by the template
        may_add = ctx.monitors is not None and user.may("editor")
        context = {"section": "monitors", "can_add": may_add, "board": tiles, "view": view, "statuses": STATUS_ORDER}
        return await run_in_threadpool(render, request, "dashboard.html", user, **context)

    @router.get("/new-monitor", response_class=HTMLResponse, summary="The form that adds a monitor (editor)")
    def new_monitor_page(request: Request, user: Principal = editor_page) -> HTMLResponse:
        return render(request, "monitor_new.html", user, section="monitors", errors=[], form={})

    @router.post(
        "/new-monitor",
        response_class=HTMLResponse,
        summary="Add a monitor from the dashboard's form (editor, CSRF token); kept in the database",
    )
    async def add_monitor_form(request: Request, user: Principal = editor_form) -> Response:
        fields = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
        if ctx.monitors is None:
            raise HTTPException(503, detail="monitors cannot be added here")
        try:
            monitor = monitor_from_form(fields)
            await ctx.monitors.add_now(monitor)
        except (ValidationError, MonitorError) as exc:
            context = {"section": "monitors", "errors": form_errors(exc), "form": fields}
            response = render(request, "monitor_new.html", user, **context)
            response.status_code = 422
            return response
        return RedirectResponse(f"/monitors/{quote(monitor.name)}", status_code=303)

    @router.post(
        "/monitors/{name}/delete",
        response_class=RedirectResponse,
        status_code=303,
        summary="Delete a monitor added through the dashboard or the API (editor, CSRF token)",
    )
    async def delete_monitor_form(name: str, _user: Principal = editor_form) -> RedirectResponse:
        if ctx.monitors is None:
            raise HTTPException(503, detail="monitors cannot be deleted here")
        try:
            await ctx.monitors.delete_now(name)
        except UnknownMonitorName:
            raise HTTPException(404, detail=f"no monitor named {name!r}") from None
        except MonitorError as exc:
            raise HTTPException(409, detail=str(exc)) from None
        return RedirectResponse("/", status_code=303)

    @router.get("/fragments/board", response_class=HTMLResponse, summary="The dashboard's monitor tiles (login)")
    async def board_fragment(_user: Principal = page, view: BoardView = chosen_view) -> HTMLResponse:
        return HTMLResponse(await board_of(view))

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
