"""`POST /api/v1/incidents/{id}/confirm` (and the incidents page's button): a person confirms
an incident that users' reports alone opened while `reports.confirm_before_notify` is on,
and people are told of it now (docs/reports.md). Apart from the rest of the incidents API because it sends notices on a
person's word, and stays out of the public routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import RedirectResponse

from ronda.storage.incidents import UnknownIncident
from ronda.web import examples
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.shapes import incident_json


def confirm_router(ctx: WebContext, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=examples.NO_TOKEN)
    page = APIRouter(tags=["pages"])
    # Confirming sends notices on a person's word: an editor's decision, like an update.
    api_user = Depends(auth.api_as("editor"))
    form_user = Depends(auth.form_as("editor"))

    @api.post(
        "/incidents/{incident_id}/confirm",
        summary="Confirm an incident users' reports alone opened: its opening notice goes out now",
        responses=examples.answer(examples.INCIDENT, 200, "The incident, `confirmed` on its timeline")
        | examples.NO_INCIDENT
        | examples.refusal(409, "It waits for no confirmation", "incident 7 waits for no confirmation"),
    )
    def confirm(incident_id: int, principal: Principal = api_user) -> dict[str, Any]:
        confirm_now(incident_id, principal)
        return incident_json(ctx.db.incidents.get(incident_id))

    @page.post(
        "/incidents/{incident_id}/confirm",
        response_class=RedirectResponse,
        status_code=303,
        summary="Confirm an incident users' reports alone opened, from the incidents page (login, CSRF token)",
    )
    def confirm_form(incident_id: int, principal: Principal = form_user) -> RedirectResponse:
        confirm_now(incident_id, principal)
        return RedirectResponse(f"/incidents#incident-{incident_id}", status_code=303)

    def confirm_now(incident_id: int, principal: Principal) -> None:
        try:
            confirmed = ctx.db.incidents.confirm(incident_id, principal.name, ctx.clock())
        except UnknownIncident:
            raise HTTPException(404, detail=f"no incident {incident_id}") from None
        if confirmed is None:
            raise HTTPException(409, detail=f"incident {incident_id} waits for no confirmation")
        ctx.notify()

    both = APIRouter()
    both.include_router(api)
    both.include_router(page)
    return both
