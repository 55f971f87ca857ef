"""The JSON API of CONTRACT.md section 4, under /api/v1, behind the token."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ronda.storage.arrivals import UnknownMonitor
from ronda.storage.incidents import HumanStatus, UnknownIncident
from ronda.storage.monitors import Selection
from ronda.web import examples
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.push import PushLinks
from ronda.web.screenshots import JPEG, screenshot_answer
from ronda.web.shapes import (
    VANTAGE_SPAN,
    certificate_json,
    connectivity_json,
    incident_json,
    outbox_json,
    uptime_json,
    vantage_json,
)


class HumanUpdate(BaseModel):
    """An incident post, as on a status page."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"status": "identified", "message": "A certificate renewal failed; renewing by hand."}]
        },
    )

    status: HumanStatus
    message: str = Field(min_length=1, max_length=5000)
    author: str = Field(
        default="api",
        min_length=1,
        max_length=64,
        description="who posts it: taken only from the config's token (and tokens made with it); "
        "a user's update carries the user's name",
    )


def author_of(update: HumanUpdate, principal: Principal) -> str:
    """A person's update is signed with their name, so no one posts under another's; the
    config's token stands for no person, and names whom it speaks for."""
    if principal.user_id is None:
        return update.author
    if "author" in update.model_fields_set and update.author != principal.name:
        raise HTTPException(
            422, detail=f"an update by {principal.name!r} carries their own name, not {update.author!r}"
        )
    return principal.name


def no_monitor(name: str) -> HTTPException:
    return HTTPException(404, detail=f"no monitor named {name!r}")


def api_router(ctx: WebContext, auth: Auth) -> APIRouter:
    store = ctx.db
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.api)], responses=examples.NO_TOKEN)
    links = PushLinks(ctx)  # a push monitor's record carries its URL: only for editors and admins
    reader = Depends(auth.api)  # resolved once per request: the router's dependency is the same
    editor = Depends(auth.api_as("editor"))

    @api.get(
        "/monitors",
        summary=(
            "Every monitor with its state and latest verdict, by name; `status`, `tag` and `q` (a text in the "
            'name or target) narrow the list, `limit` pages it: a full page has a `Link: <...>; rel="next"` header'
        ),
        responses=examples.answer([examples.MONITOR, examples.CAMERA]),
    )
    def monitors(
        request: Request,
        response: Response,
        principal: Principal = reader,
        status: Literal["up", "degraded", "down", "unknown"] | None = None,
        tag: str | None = Query(None, max_length=200),
        q: str | None = Query(None, max_length=200),
        after: str | None = Query(None, max_length=200, description="the last name of the page before"),
        limit: int | None = Query(None, ge=1, le=10_000),
    ) -> list[dict[str, Any]]:
        records = store.monitors.active(Selection(status, ctx.tagged(tag), q, after, limit))
        if limit is not None and len(records) == limit:
            # Relative, like every link ronda writes without public_url: never the Host header's.
            following = urlencode({**request.query_params, "after": records[-1].name})
            response.headers["Link"] = f'<{request.url.path}?{following}>; rel="next"'
        return links.shaped(records, principal)

    @api.get(
        "/monitors/{name}",
        summary="One monitor with its state and latest verdict",
        responses=examples.answer(examples.MONITOR) | examples.NO_MONITOR,
    )
    def monitor(name: str, principal: Principal = reader) -> dict[str, Any]:
        try:
            return links.shaped_one(store.monitors.get(name), principal)
        except UnknownMonitor:
            raise no_monitor(name) from None

    @api.get(
        "/monitors/{name}/results",
        summary="A monitor's verdicts, newest first",
        responses=examples.answer([examples.VERDICT]) | examples.NO_MONITOR,
    )
    def results(name: str, limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        try:
            return store.monitors.results(name, limit)
        except UnknownMonitor:
            raise no_monitor(name) from None

    @api.get(
        "/monitors/{name}/vantages",
        summary="A monitor from each vantage point (the hub's, each agent's) over the last hour: status, latency",
        responses=examples.answer([examples.VANTAGE]) | examples.NO_MONITOR,
    )
    def vantages(name: str) -> list[dict[str, Any]]:
        try:
            return [vantage_json(v) for v in store.monitors.vantages(name, ctx.clock() - VANTAGE_SPAN)]
        except UnknownMonitor:
            raise no_monitor(name) from None

    @api.get(
        "/monitors/{name}/uptime",
        summary="A monitor's uptime and response times over 24 h, 7 d, 30 d and 90 d, per check",
        responses=examples.answer(examples.UPTIME) | examples.NO_MONITOR,
    )
    def uptime(name: str) -> dict[str, Any]:
        try:
            return uptime_json(store.monitors.uptime(name, ctx.clock()))
        except UnknownMonitor:
            raise no_monitor(name) from None

    @api.get(
        "/monitors/{name}/screenshot",
        response_class=Response,
        summary=(
            "The screenshot of a monitor's latest failing browser check (image/jpeg), or the one a stored "
            "verdict names (`id`, its browser.screenshot.id); 404 when none is kept"
        ),
        responses=JPEG | examples.NO_MONITOR,
    )
    def screenshot(name: str, shot: int | None = Query(None, alias="id", ge=1)) -> Response:
        return screenshot_answer(ctx, name, shot)

    @api.get(
        "/incidents",
        summary="Incidents, newest first, with their timelines",
        responses=examples.answer([examples.INCIDENT]),
    )
    def incidents(open: bool = False, limit: int = Query(200, ge=1, le=1000)) -> list[dict[str, Any]]:
        return [incident_json(i) for i in store.incidents.recent(open_only=open, limit=limit)]

    @api.post(
        "/incidents/{incident_id}/updates",
        status_code=201,
        summary="Post a human update on an incident's timeline (resolved closes it; editor)",
        responses=examples.answer(examples.INCIDENT, 201, "The incident, with the update on its timeline")
        | examples.NO_INCIDENT,
    )
    def post_update(incident_id: int, update: HumanUpdate, principal: Principal = editor) -> dict[str, Any]:
        author = author_of(update, principal)
        try:
            store.incidents.post_update(incident_id, update.status, update.message, author, ctx.clock())
        except UnknownIncident:
            raise HTTPException(404, detail=f"no incident {incident_id}") from None
        ctx.notify()
        ctx.live.changes.bump()  # the status pages show people's updates
        return incident_json(store.incidents.get(incident_id))

    @api.get(
        "/certificates",
        summary="Every certificate seen, soonest expiry first",
        responses=examples.answer([examples.CERTIFICATE_ENTRY]),
    )
    def certificates() -> list[dict[str, Any]]:
        return [certificate_json(c) for c in store.certificates.inventory(ctx.clock())]

    outbox = store.outbox

    @api.get(
        "/notifications",
        summary="Notices in the outbox, newest first: pending, sent or failed",
        responses=examples.answer([examples.NOTIFICATION]),
    )
    def notifications(
        status: Literal["pending", "sent", "failed"] | None = None, limit: int = Query(200, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        return [outbox_json(e) for e in outbox.listing(status, limit)]

    @api.get(
        "/status",
        summary="ronda's own connectivity: online, or cut off (canaries all failing), and its history",
        responses=examples.answer(examples.OWN_STATUS),
    )
    def own_status() -> dict[str, Any]:
        history = [connectivity_json(e) for e in store.monitors.connectivity()]
        return ctx.connectivity() | {"history": history, "role": ctx.role()}

    return api
