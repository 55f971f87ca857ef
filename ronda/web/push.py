"""Push monitors' URLs: what a job calls when it starts, succeeds or fails (no bearer token:
the secret in the URL is the credential), and the URL itself, shown to people signed in.

GET and POST both count (curl, wget, a PowerShell Invoke-RestMethod, a router's fetch all
work); a POST's body is what the job says, and for a failure it becomes the verdict's
detail (a success's is not kept). The body is read up to PING_BODY_LIMIT bytes and for at most PING_BODY_SECONDS: a
caller that sends more (up to server.max_public_body, past which it is 413), or drips it, is
cut short and still counted.

Each monitor takes at most CALLS_PER_MINUTE calls a minute, counted in memory before the body
is read or anything is written: a job calling in a loop (or someone who learnt its secret)
gets 429 with Retry-After, and cannot keep the store's writer busy. A secret no push monitor
has is 404 before the body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import PlainTextResponse

from ronda.records import MonitorRecord
from ronda.service.push import Signal
from ronda.storage.accounts import Role
from ronda.web.auth import Principal, client_address
from ronda.web.context import WebContext
from ronda.web.ratelimit import SlidingWindowLimiter
from ronda.web.shapes import monitor_json

PING_BODY_LIMIT = 10_000  # bytes of a job's output kept, as Healthchecks keeps by default
PING_BODY_SECONDS = 10.0
CALLS_PER_MINUTE = 120  # per push monitor: a job that calls /start and then / every second fits

Token = Annotated[str, Path(description="The push monitor's secret", examples=["kq3Jm0w8xYvT2bHn5cLpR7sA1dE4fG6h"])]
ExitStatus = Annotated[int, Path(ge=0, le=255, description="The job's exit status: 0 is success", examples=[0])]


def _text(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"example": example}}}


_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: _text("Counted", "OK\n"),
    404: _text("No push monitor has this secret (the answer is the same for every wrong one)", "not found\n"),
    429: _text(
        f"Over {CALLS_PER_MINUTE} calls a minute for this monitor: not counted (Retry-After says when to call again)",
        f"too many calls: at most {CALLS_PER_MINUTE} a minute per monitor\n",
    ),
}


def push_router(ctx: WebContext) -> APIRouter:
    router = APIRouter(prefix="/push", tags=["push monitors (public: the secret is the credential)"])
    calls = SlidingWindowLimiter(CALLS_PER_MINUTE, 60.0)  # per monitor, in memory

    async def counted(
        request: Request, token: str, signal: Signal, exit_status: int | None = None
    ) -> PlainTextResponse:
        name = ctx.push.monitor_of(token) if ctx.push is not None else None
        if name is None:
            return PlainTextResponse("not found\n", status_code=404)
        wait = calls.retry_after(name)
        if wait:
            return PlainTextResponse(
                f"too many calls: at most {CALLS_PER_MINUTE} a minute per monitor\n",
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        calls.record(name)
        output = await _output(request)
        if exit_status is not None and exit_status != 0:
            output = f"exit status {exit_status}" + (f"\n{output}" if output else "")
        push = ctx.push
        found = push is not None and await push.call(token, signal, output=output, client=client_address(request))
        if not found:
            return PlainTextResponse("not found\n", status_code=404)
        return PlainTextResponse("OK\n")

    def route(path: str, summary: str, endpoint: Callable[..., Awaitable[PlainTextResponse]]) -> None:
        # GET and POST each: one operation per method, as OpenAPI wants them named apart.
        for method in ("GET", "POST"):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                summary=summary,
                responses=_ANSWERS,
                response_class=PlainTextResponse,
                operation_id=f"push_{endpoint.__name__}_{method.lower()}",
            )

    async def success(request: Request, token: Token) -> PlainTextResponse:
        return await counted(request, token, "success")

    async def fail(request: Request, token: Token) -> PlainTextResponse:
        return await counted(request, token, "fail")

    async def start(request: Request, token: Token) -> PlainTextResponse:
        return await counted(request, token, "start")

    async def exited(request: Request, token: Token, exit_status: ExitStatus) -> PlainTextResponse:
        return await counted(request, token, "success" if exit_status == 0 else "fail", exit_status)

    route("/{token}", "A job succeeded: its push monitor is up (GET or POST, any body)", success)
    route(
        "/{token}/fail",
        "A job failed: its push monitor is down, the POST body (10 kB at most) the detail",
        fail,
    )
    route("/{token}/start", "A job started: its next success is timed from here; none within grace is a miss", start)
    route(
        "/{token}/{exit_status:int}",
        "A job ended with this exit status (curl .../$?): 0 is a success, anything else a failure",
        exited,
    )
    return router


async def _output(request: Request) -> str:
    """What the job sent, bounded in size and time; empty for a GET."""
    if request.method != "POST":
        return ""
    received = bytearray()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(PING_BODY_SECONDS):
            async for chunk in request.stream():
                received += chunk[: PING_BODY_LIMIT - len(received)]
                if len(received) >= PING_BODY_LIMIT:
                    break
    return received.decode("utf-8", errors="replace").strip()


class PushLinks:
    """The API's and the dashboard's monitor JSON, with `push_url` for push monitors under
    server.base_url (public_url when set, else the address ronda listens on). The URL is the
    credential of a job, so only editors and admins see it (and a push monitor's written
    `token` in its spec); a viewer sees neither."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.records = ctx.db.push

    def urls(self, names: set[str]) -> dict[str, str]:
        """Each push monitor's URL among `names`, by name."""
        config = self.ctx.config  # names looked up, not every monitor walked: a page of 100
        pushed = {name for name in names if (m := config.monitor_named(name)) is not None and m.kind == "push"}
        tokens = self.records.tokens(pushed) if pushed else {}
        return {name: f"{self.ctx.config.server.base_url}/push/{token}" for name, token in tokens.items()}

    def shaped(self, monitors: list[MonitorRecord], principal: Principal) -> list[dict[str, Any]]:
        if not principal.may(SEES_PUSH_SECRETS):
            return [_without_secret(monitor_json(m)) for m in monitors]
        urls = self.urls({m.name for m in monitors})
        return [monitor_json(m, urls.get(m.name)) for m in monitors]

    def shaped_one(self, monitor: MonitorRecord, principal: Principal) -> dict[str, Any]:
        return self.shaped([monitor], principal)[0]


SEES_PUSH_SECRETS: Role = "editor"


def _without_secret(shaped: dict[str, Any]) -> dict[str, Any]:
    spec = shaped.get("spec")
    if isinstance(spec, dict) and "token" in spec:
        shaped["spec"] = {key: value for key, value in spec.items() if key != "token"}
    return shaped
