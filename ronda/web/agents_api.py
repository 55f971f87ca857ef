"""Probe agents over HTTP: their own two routes (their monitors, their verdicts), behind
their own tokens, and the people's routes that add, list and revoke them.

An agent's routes (/api/v1/agent/...) take only an agent's token: a person's token or login
is not an agent, and an agent's token opens nothing else. The agent is who its token says
(name and region, from the store), whatever it claims.
"""

from __future__ import annotations

import json
import time
import zlib
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from ronda.service.agent_hub import AgentHub, StoreFailed, agent_state
from ronda.storage.agents import Agent, AgentError, seen_every
from ronda.verdict import iso
from ronda.web import examples
from ronda.web.auth import Auth, bearer_of, client_address
from ronda.web.context import WebContext

AGENT_PREFIX = "/api/v1/agent/"
MAX_UNPACKED = 64 * 1024 * 1024  # bytes a compressed batch may unpack to: a zip bomb stops here
VERSION_HEADER = "x-ronda-version"


class NewAgent(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "milan-1", "region": "eu-south"}]}
    )

    name: str
    region: str


def agent_json(agent: Agent, now: datetime, silent_after: timedelta, monitors: int | None = None) -> dict[str, Any]:
    return {
        "name": agent.name,
        "region": agent.region,
        "vantage": agent.vantage,
        "state": agent_state(agent, now, silent_after),
        "token_prefix": agent.prefix,
        "created_at": iso(agent.created_at),
        "last_seen_at": iso(agent.last_seen_at) if agent.last_seen_at else None,
        "address": agent.address,
        "online": agent.online,
        "offline_since": iso(agent.offline_since) if agent.offline_since else None,
        "offline_detail": agent.offline_detail,
        "version": agent.version,
        "revoked_at": iso(agent.revoked_at) if agent.revoked_at else None,
        "monitors": monitors,
    }


def agent_calling(ctx: WebContext, request: Request) -> Agent | None:
    """The agent whose token the request carries (now heard from), or None."""
    secret = bearer_of(request)
    if not secret:
        return None
    touch_every = seen_every(_silent_after(ctx))
    return ctx.db.agents.use(secret, client_address(request), request.headers.get(VERSION_HEADER), touch_every)


def _hub(ctx: WebContext) -> AgentHub:
    if ctx.agents is None:
        raise HTTPException(503, detail="this process takes no probe agents")
    return ctx.agents


def _unpacked(body: bytes, encoding: str) -> Any:
    """The batch's JSON, gzip-compressed (as agents send it) or not; ValueError when it is
    neither or unpacks past MAX_UNPACKED."""
    if encoding == "gzip":
        unpacker = zlib.decompressobj(wbits=31)
        body = unpacker.decompress(body, MAX_UNPACKED)
        if unpacker.unconsumed_tail:
            raise ValueError(f"the batch unpacks to more than {MAX_UNPACKED} bytes")
    elif encoding not in ("", "identity"):
        raise ValueError(f"Content-Encoding {encoding!r}: send gzip or nothing")
    payload = json.loads(body)
    if not isinstance(payload, dict):
        raise ValueError("expected a JSON object with `verdicts`")
    return payload


def agents_router(ctx: WebContext, auth: Auth) -> APIRouter:
    router = APIRouter()
    viewer = Depends(auth.api_as("viewer"))
    admin = Depends(auth.api_as("admin"))

    def calling_agent(request: Request) -> Agent:
        agent = agent_calling(ctx, request)
        if agent is None:
            raise HTTPException(
                401,
                detail="a valid agent token is required",
                headers={"WWW-Authenticate": 'Bearer realm="ronda agents"'},
            )
        return agent

    an_agent = Depends(calling_agent)

    @router.get(
        AGENT_PREFIX + "assignment",
        summary="an agent's monitors (agent token)",
        tags=["agents"],
        responses=examples.answer(examples.ASSIGNMENT),
    )
    def assignment(version: str = "", agent: Agent = an_agent) -> Response:
        answer = _hub(ctx).assignment(agent, time.monotonic())
        if version and version == answer.version:
            return Response(json.dumps({"version": version, "unchanged": True}), media_type="application/json")
        return Response(answer.body, media_type="application/json")

    @router.post(
        AGENT_PREFIX + "verdicts",
        summary="an agent's batch of verdicts, gzip-compressed JSON (agent token)",
        tags=["agents"],
        responses=examples.answer(examples.BATCH_TAKEN),
    )
    async def verdicts(request: Request, agent: Agent = an_agent) -> dict[str, Any]:
        hub = _hub(ctx)
        body = await request.body()
        try:
            payload = await run_in_threadpool(_unpacked, body, request.headers.get("content-encoding", ""))
            return await hub.take(agent, payload)
        except StoreFailed as exc:
            raise HTTPException(503, detail=f"the store did not take the batch ({exc}); send it again") from None
        except ValueError as exc:
            raise HTTPException(422, detail=str(exc)) from None

    @router.get(
        "/api/v1/agents",
        summary="the probe agents and their state (viewer)",
        tags=["agents"],
        responses=examples.answer([examples.AGENT]),
    )
    def agents(_: Any = viewer) -> list[dict[str, Any]]:
        return agents_listed(ctx)

    @router.post(
        "/api/v1/agents",
        status_code=201,
        summary="add a probe agent: its token, shown once (admin)",
        tags=["agents"],
        responses=examples.answer(examples.AGENT | {"token": "ronda_agent_k3Xz9Q..."}, 201),
    )
    def add_agent(new: NewAgent, _: Any = admin) -> dict[str, Any]:
        try:
            secret, agent = ctx.db.agents.add(new.name, new.region)
        except AgentError as exc:
            raise HTTPException(409 if "already" in str(exc) else 422, detail=str(exc)) from None
        return agent_json(agent, ctx.clock(), _silent_after(ctx)) | {"token": secret}

    @router.delete(
        "/api/v1/agents/{name}",
        summary="revoke a probe agent's token (admin)",
        tags=["agents"],
        responses=examples.answer(examples.AGENT | {"revoked_at": "2026-12-05T11:00:00Z"}),
    )
    def revoke_agent(name: str, _: Any = admin) -> dict[str, Any]:
        agent = ctx.db.agents.revoke(name)
        if agent is None:
            raise HTTPException(404, detail=f"no agent named {name!r}")
        return agent_json(agent, ctx.clock(), _silent_after(ctx))

    return router


def agents_listed(ctx: WebContext) -> list[dict[str, Any]]:
    """Every agent with its state and how many monitors it checks now."""
    now = ctx.clock()
    counts = ctx.agents.assigned_counts() if ctx.agents is not None else {}
    return [agent_json(agent, now, _silent_after(ctx), counts.get(agent.name)) for agent in ctx.db.agents.all()]


def _silent_after(ctx: WebContext) -> timedelta:
    return timedelta(seconds=ctx.config.agents.silent_after)
