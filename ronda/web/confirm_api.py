"""`POST /api/v1/incidents/{id}/confirm`: a person confirms an incident that users' reports
alone opened while `reports.confirm_before_notify` is on, and people are told of it now
(docs/reports.md). Apart from the rest of the incidents API because it sends notices on a
person's word, and stays out of the public routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from ronda.storage.incidents import UnknownIncident
from ronda.web import examples
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.shapes import incident_json


def confirm_router(ctx: WebContext, auth: Auth) -> APIRouter:
    api = APIRouter(prefix="/api/v1", responses=examples.NO_TOKEN)
    api_user = Depends(auth.api)

    @api.post(
        "/incidents/{incident_id}/confirm",
        summary="Confirm an incident users' reports alone opened: its opening notice goes out now",
        responses=examples.answer(examples.INCIDENT, 200, "The incident, `confirmed` on its timeline")
        | examples.NO_INCIDENT
        | examples.refusal(409, "It waits for no confirmation", "incident 7 waits for no confirmation"),
    )
    def confirm(incident_id: int, principal: Principal = api_user) -> dict[str, Any]:
        try:
            confirmed = ctx.db.incidents.confirm(incident_id, principal.name, ctx.clock())
        except UnknownIncident:
            raise HTTPException(404, detail=f"no incident {incident_id}") from None
        if confirmed is None:
            raise HTTPException(409, detail=f"incident {incident_id} waits for no confirmation")
        ctx.notify()
        return incident_json(ctx.db.incidents.get(incident_id))

    return api
