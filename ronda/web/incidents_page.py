"""The dashboard's incidents page: open incidents first, then the resolved, newest first,
a page at a time, filtered by state; each with its timeline to the second and, for an
editor, a form to post an update. It redraws in place as notices arrive (live.js), and
never while a person is typing an update."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ronda.storage.incidents import HumanStatus, IncidentState, UnknownIncident
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages
from ronda.web.shapes import incident_json

PER_PAGE = 25


@dataclass(frozen=True)
class IncidentsView:
    """Which incidents the page lists: a state (None: both, the open first) and a page."""

    state: IncidentState | None = None
    page: int = 1

    def query(self, **changed: Any) -> str:
        """This view's URL query, with `changed` applied ("" for the first page of all)."""
        values = {"state": self.state, "page": self.page} | changed
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == 1)})


def incidents_listed(ctx: WebContext, view: IncidentsView) -> dict[str, Any]:
    """The page's incidents and what its filter and paging links need."""
    counts = ctx.db.incidents.count_by_state()
    offset = (view.page - 1) * PER_PAGE
    records = ctx.db.incidents.listing(view.state, offset, PER_PAGE + 1)  # one more: is there a next page?
    total = counts.get(view.state, 0) if view.state else sum(counts.values())
    return {
        "incidents": [incident_json(i) for i in records[:PER_PAGE]],
        "view": view,
        "counts": {"open": counts.get("open", 0), "resolved": counts.get("resolved", 0)},
        "first_shown": offset + 1,
        "total": total,
        "older": view.page + 1 if len(records) > PER_PAGE else None,
    }


def incidents_router(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter(tags=["dashboard"])
    pages = Pages(ctx)
    page = Depends(auth.page)
    editor_form = Depends(auth.form_as("editor"))

    def view_of(
        state: Literal["open", "resolved"] | None = None,
        page: int = Query(1, ge=1, le=100_000, description="the page, 25 incidents each"),
    ) -> IncidentsView:
        return IncidentsView(state, page)

    chosen = Depends(view_of)

    @router.get("/incidents", response_class=HTMLResponse, summary="Incidents, open first, with timelines (login)")
    def incidents_page(request: Request, user: Principal = page, view: IncidentsView = chosen) -> HTMLResponse:
        return pages.render(request, "incidents.html", user, section="incidents", **incidents_listed(ctx, view))

    @router.get("/fragments/incidents", response_class=HTMLResponse, summary="The incidents page's list (login)")
    def incidents_fragment(user: Principal = page, view: IncidentsView = chosen) -> HTMLResponse:
        return pages.fragment("_incidents.html", user=user, **incidents_listed(ctx, view))

    @router.post(
        "/incidents/{incident_id}/updates",
        response_class=RedirectResponse,
        status_code=303,
        summary="Post a human update from the incidents page (editor, CSRF token)",
    )
    def post_update_form(
        incident_id: int,
        status: Annotated[HumanStatus, Form()],
        message: Annotated[str, Form(min_length=1, max_length=5000)],
        user: Principal = editor_form,
    ) -> RedirectResponse:
        try:
            ctx.db.incidents.post_update(incident_id, status, message, user.name, ctx.clock())
        except UnknownIncident:
            raise HTTPException(404, detail=f"no incident {incident_id}") from None
        ctx.notify()
        ctx.live.changes.bump()  # the status pages show people's updates
        return RedirectResponse(f"/incidents#incident-{incident_id}", status_code=303)

    return router
