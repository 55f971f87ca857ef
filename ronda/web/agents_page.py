"""The dashboard's page of probe agents: each with its region, state (live, silent: a lost
vantage point, cut off: its own network fails, revoked), where it calls from and how many
monitors it checks; an admin adds one (its token shown once, on the page that answers the
form) and revokes one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ronda.storage.agents import AgentError
from ronda.web.agents_api import agents_listed
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.pages import Pages

STATE_WORDS = {
    "live": "live",
    "silent": "silent: a lost vantage point (its monitors went to others)",
    "cut-off": "cut off: its own network fails (its canaries), so its failures count for nothing",
    "revoked": "revoked",
}


def agents_pages(ctx: WebContext, auth: Auth) -> APIRouter:
    pages = Pages(ctx)
    router = APIRouter(tags=["pages"])
    page = Depends(auth.page)
    admin_form = Depends(auth.form_as("admin"))

    def agents_page(request: Request, principal: Principal, code: int = 200, **extra: Any) -> Response:
        context = {"agents": agents_listed(ctx), "words": STATE_WORDS, "section": "agents"} | extra
        return pages.render(request, "agents.html", principal, status_code=code, **context)

    @router.get("/agents", summary="Probe agents, their regions and state (login)", response_class=HTMLResponse)
    def agents(request: Request, principal: Principal = page) -> Response:
        return agents_page(request, principal)

    @router.post("/agents", summary="Add a probe agent; its token is shown once (admin, form)")
    def add_agent(
        request: Request, principal: Principal = admin_form, name: str = Form(""), region: str = Form("")
    ) -> Response:
        try:
            secret, agent = ctx.db.agents.add(name.strip(), region.strip())
        except AgentError as exc:
            return agents_page(request, principal, 400, error=str(exc))
        return agents_page(request, principal, 201, token=secret, added=agent.name)

    @router.post("/agents/{name}/revoke", summary="Revoke a probe agent's token (admin, form)")
    def revoke_agent(name: str, _principal: Principal = admin_form) -> Response:
        ctx.db.agents.revoke(name)
        return RedirectResponse("/agents", status_code=303)

    return router
