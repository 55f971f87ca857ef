"""What every page behind the login is drawn with: the templates and the page's chrome
(who is logged in, whether ronda is offline, agents lost and monitors checked from nowhere),
so that each page's router adds only its own content and no page lacks a banner."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ronda.service.agent_hub import agent_state
from ronda.web.auth import Principal
from ronda.web.context import WebContext
from ronda.web.templating import make_templates


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


class Pages:
    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.templates = make_templates()

    def chrome(self, user: Principal) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "user": user,
            "now": ctx.clock(),
            "offline": not ctx.connectivity()["online"],
            "agent_troubles": agent_troubles(ctx),
            "unwatched": unwatched(ctx),
            "drafts": ctx.db.outbox.count_drafts(),  # public posts awaiting approval (/announcements)
        }

    def render(
        self, request: Request, name: str, user: Principal, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        """A whole page: the chrome, then the page's own `context`."""
        return self.templates.TemplateResponse(request, name, self.chrome(user) | context, status_code=status_code)

    def fragment(self, name: str, **context: Any) -> HTMLResponse:
        """A part of a page that live.js redraws in place: no chrome, times from the clock."""
        return HTMLResponse(self.templates.env.get_template(name).render({"now": self.ctx.clock()} | context))
