"""The dashboard's page of probe agents: each with its region, state (live, silent: a lost
vantage point, cut off: its own network fails, revoked), where it calls from and how many
monitors it checks; an admin adds one (its token shown once, on the page that answers the
form) and revokes one."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ronda.service.agent_hub import agent_state
from ronda.storage.agents import AgentError
from ronda.web.agents_api import agents_listed
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.templating import make_templates

STATE_WORDS = {
    "live": "live",
    "silent": "silent: a lost vantage point (its monitors went to others)",
    "cut-off": "cut off: its own network fails (its canaries), so its failures count for nothing",
    "revoked": "revoked",
}


def agent_troubles(ctx: WebContext) -> list[dict[str, str]]:
    """The agents that are silent or cut off, for the banner every dashboard page shows:
    a lost vantage point is worth saying everywhere, as ronda's own offline state is."""
    now, silent_after = ctx.clock(), timedelta(seconds=ctx.config.agents.silent_after)
    troubles = []
    for agent in ctx.db.agents.active():
        state = agent_state(agent, now, silent_after)
        if state in ("silent", "cut-off"):
            troubles.append({"name": agent.name, "region": agent.region, "state": state})
    return troubles


def unwatched(ctx: WebContext) -> list[dict[str, Any]]:
    """Monitors no vantage point checks now (their regions have no live agent), by regions."""
    if ctx.agents is None:
        return []
    found = ctx.agents.unwatched(time.monotonic())
    return [{"regions": list(regions), "monitors": sorted(names)} for regions, names in sorted(found.items())]


def agents_pages(ctx: WebContext, auth: Auth) -> APIRouter:
    templates = make_templates()
    router = APIRouter(tags=["pages"])
    page = Depends(auth.page)
    admin_form = Depends(auth.form_as("admin"))

    def agents_page(request: Request, principal: Principal, code: int = 200, **extra: Any) -> Response:
        context = {"user": principal, "agents": agents_listed(ctx), "words": STATE_WORDS, "section": "agents"}
        context |= {"now": ctx.clock(), "offline": not ctx.connectivity()["online"]} | extra
        context["agent_troubles"] = agent_troubles(ctx)
        context["unwatched"] = unwatched(ctx)
        return templates.TemplateResponse(request, "agents.html", context, status_code=code)

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
