"""The dashboard's board: every monitor at a glance (tiles, or a compact list), worst
first or searched, and the live stream of server-sent events every open page listens to.
The monitor page, the incidents page and the monitor forms have modules of their own.
Pages are rendered on the server from the store: no build step, nothing to install."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from ronda.records import DayFigures, MonitorRecord
from ronda.rules.surge import Surge
from ronda.storage.monitors import WARNING, Selection
from ronda.storage.surges import Surges
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages
from ronda.web.public_cache import Kept
from ronda.web.shapes import monitor_json

# The board's kinds of monitor, worst first: a monitor that answers but warns (an expiring
# certificate, a renewal overdue, slow answers) is counted and listed apart from the up ones.
BOARD_KINDS: dict[str, Selection] = {
    "down": Selection("down"),
    "degraded": Selection("degraded"),
    WARNING: Selection("up", warned=True),
    "unknown": Selection("unknown"),
    "up": Selection("up", warned=False),
}
STATUS_ORDER = {kind: rank for rank, kind in enumerate(BOARD_KINDS)}


# Tiles on one board. Past that, people search, pick a status or page on: at 10,000
# monitors a board of every tile was 55 MB and half a minute to draw. The list, a row a
# monitor without daily bars, shows more.
BOARD_TILES = 200
LIST_ROWS = 500
BoardStatus = Literal["down", "degraded", "warning", "unknown", "up"]


@dataclass(frozen=True)
class BoardView:
    """What the board shows: the worst monitors first (no choice made), or those in a status
    and with a text in their name or target, by name, a page after `after`."""

    status: BoardStatus | None = None
    q: str | None = None
    after: str | None = None
    layout: Literal["list"] | None = None  # a compact row a monitor, for hundreds of them

    @property
    def chosen(self) -> bool:
        return self.status is not None or bool(self.q) or self.after is not None

    @property
    def size(self) -> int:
        return LIST_ROWS if self.layout == "list" else BOARD_TILES

    def with_layout(self, layout: Literal["list"] | None) -> BoardView:
        return replace(self, layout=layout, after=None)

    def query(self) -> str:
        """The view as a URL's query ("" for the default)."""
        return urlencode({key: value for key, value in asdict(self).items() if value})


def board(ctx: WebContext, now: datetime, surges: Surges, view: BoardView = BoardView()) -> dict[str, Any]:
    """A page of monitors (`view`), each with its uptime bars and the level of a surge of
    users' reports under way; counts per status of all of them; the next page's view."""
    counts = ctx.db.monitors.count_by_status()
    if view.chosen:
        kind = BOARD_KINDS[view.status] if view.status else Selection()
        records = ctx.db.monitors.active(replace(kind, text=view.q, after=view.after, limit=view.size))
    else:
        records = _worst_first(ctx, view.size)
    under_way = surges.under_way()
    names = [m.name for m in records]
    days = ctx.db.monitors.daily_many(names, now) if view.layout is None else {}  # every tile's bars in one read
    following = None
    if len(records) == view.size:  # perhaps more: on from the last one, in its kind
        last = records[-1]
        following = replace(view, status=cast(BoardStatus, view.status or kind_of(last)), after=last.name)
    return {
        "monitors": [_tile(m, days.get(m.name, []), under_way.get(m.name)) for m in records],
        "counts": {status: counts.get(status, 0) for status in STATUS_ORDER},
        "total": sum(counts.values()),
        "view": view,
        "following": following,
    }


def kind_of(monitor: MonitorRecord) -> str:
    """The board's kind of a monitor: its status, or "warning" when it is up and warns."""
    return WARNING if monitor.status == "up" and monitor.warning else monitor.status


def _worst_first(ctx: WebContext, limit: int) -> list[MonitorRecord]:
    """Down, then degraded, then warning, then not checked yet, then up, each by name:
    `limit` at most."""
    records: list[MonitorRecord] = []
    for kind in BOARD_KINDS.values():
        if len(records) < limit:
            records += ctx.db.monitors.active(replace(kind, limit=limit - len(records)))
    return records


def _tile(monitor: MonitorRecord, days: list[DayFigures], surge: Surge | None) -> dict[str, Any]:
    """A monitor's tile: its JSON, as the API shows it, with its days and any surge."""
    level = surge.level.word if surge is not None and surge.level else None
    return monitor_json(monitor) | {"days": days, "surge": level}


# The board is drawn at most this often, for every open tab together: a dashboard hears each
# verdict (dozens a second at 1,000 monitors) and once redrew all tiles for each.
BOARD_REFRESH = timedelta(seconds=5)


def dashboard_router(ctx: WebContext, auth: Auth) -> APIRouter:
    pages = Pages(ctx)
    templates = pages.templates
    router = APIRouter(include_in_schema=True, tags=["dashboard"])
    page = Depends(auth.page)
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
        return (await kept.get(("board", view.layout), lambda: board_html(view), max_age=BOARD_REFRESH)).value

    def view_of(
        status: BoardStatus | None = None,
        q: str | None = Query(None, max_length=200, description="a text in the name or target"),
        after: str | None = Query(None, max_length=200, description="the last name of the page before"),
        layout: Literal["list"] | None = Query(None, description="list: a compact row a monitor"),
    ) -> BoardView:
        return BoardView(status, q or None, after, layout)

    chosen_view = Depends(view_of)

    @router.get("/", response_class=HTMLResponse, summary="Dashboard: the worst monitors first, or a search (login)")
    async def home(request: Request, user: Principal = page, view: BoardView = chosen_view) -> HTMLResponse:
        tiles = Markup(await board_of(view))  # rendered from the store, escaped by the template
        may_add = ctx.monitors is not None and user.may("editor")
        context = {"section": "monitors", "can_add": may_add, "board": tiles, "view": view, "statuses": STATUS_ORDER}
        return await run_in_threadpool(render, request, "dashboard.html", user, **context)

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
