"""Monitors defined through the API (POST, PUT, DELETE /api/v1/monitors) and the config
file re-read on demand (POST /api/v1/reload). The body of a monitor is a monitor of the
config file, checked by the same model, so a mistake reads the same in both places.

The routes are plain functions, so FastAPI runs them in worker threads; the manager hands
each change to the service's event loop and waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Response

from ronda.config.schema import Monitor
from ronda.errors import ConfigError
from ronda.service.monitors import (
    InvalidMonitor,
    MonitorError,
    MonitorExists,
    MonitorInUse,
    MonitorManager,
    NotAvailable,
    ReadOnlyMonitor,
    UnknownMonitorName,
)
from ronda.web.auth import Auth, Principal
from ronda.web.context import WebContext
from ronda.web.push import PushLinks

_STATUS: dict[type[MonitorError], int] = {
    UnknownMonitorName: 404,
    MonitorExists: 409,
    ReadOnlyMonitor: 409,
    MonitorInUse: 409,
    NotAvailable: 503,
}

_SHOP = {
    "name": "shop",
    "url": "https://shop.example/",
    "interval": "1m",
    "expect": {"status": 200, "text": "Welcome", "max_latency": "2s"},
    "tags": ["web"],
}
_EXAMPLES = {
    "an HTTPS page": {"summary": "An HTTPS page with conditions", "value": _SHOP},
    "a TCP port": {
        "summary": "A TCP port that depends on another monitor",
        "value": {"name": "db", "url": "tcp://db.example:5432", "depends_on": ["gateway"]},
    },
    "a heartbeat": {
        "summary": "A push monitor: a nightly job calls its push_url (the answer has it); late after 04:00 in Rome",
        "value": {
            "name": "nightly-backup",
            "kind": "push",
            "cron": "0 3 * * *",
            "timezone": "Europe/Rome",
            "grace": "1h",
        },
    },
}
_MONITOR_ANSWER = {
    "name": "shop",
    "target": "https://shop.example/",
    "status": "unknown",
    "cause": None,
    "since": None,
    "open_incident": None,
    "last_check": None,
    "source": "api",
    "editable": True,
    "spec": _SHOP | {"interval": 60.0, "expect": {"status": 200, "text": "Welcome", "max_latency": 2.0}},
}


def _detail(status: int, description: str, detail: Any) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "content": {"application/json": {"example": {"detail": detail}}}}}


_INVALID = _detail(
    422,
    "The body is not a valid monitor: each problem names its field",
    [{"type": "value_error", "loc": ["body", "depends_on"], "msg": "no monitor named 'gateway'"}],
)
_READ_ONLY = _detail(409, "Defined in the config file", "monitor 'shop' is defined in the config file ...")
_UNKNOWN = _detail(404, "No monitor of that name", "no monitor named 'shop'")
_UNAVAILABLE = _detail(503, "Monitors cannot be changed in this process", "not available here")


MonitorBody = Annotated[Monitor, Body(openapi_examples=_EXAMPLES)]
Name = Annotated[str, Path(description="The monitor's name", examples=["shop"])]


def monitors_router(ctx: WebContext, auth: Auth) -> APIRouter:
    # Changing monitors is an editor's; re-reading the config file (settings) an admin's.
    api = APIRouter(prefix="/api/v1", dependencies=[Depends(auth.api)], tags=["monitors"])
    store = ctx.db
    links = PushLinks(ctx)
    editor = Depends(auth.api_as("editor"))
    admin = Depends(auth.api_as("admin"))

    def manager() -> MonitorManager:
        if ctx.monitors is None:
            raise HTTPException(503, detail="not available here: this process does not run monitors")
        return ctx.monitors

    @api.post(
        "/monitors",
        status_code=201,
        summary="Add a monitor (stored in the database, checked at once, kept across restarts; editor)",
        responses={
            201: {"content": {"application/json": {"example": _MONITOR_ANSWER}}},
            **_INVALID,
            **_detail(409, "A monitor of that name exists", "a monitor named 'shop' exists"),
            **_UNAVAILABLE,
        },
    )
    def add(monitor: MonitorBody, principal: Principal = editor) -> dict[str, Any]:
        _answer(lambda: manager().add(monitor))
        return links.shaped_one(store.monitors.get(monitor.name), principal)

    @api.put(
        "/monitors/{name}",
        summary="Replace a monitor defined through the API (its history stays; editor)",
        responses={
            200: {"content": {"application/json": {"example": _MONITOR_ANSWER}}},
            **_UNKNOWN,
            **_READ_ONLY,
            **_INVALID,
            **_UNAVAILABLE,
        },
    )
    def replace(name: Name, monitor: MonitorBody, principal: Principal = editor) -> dict[str, Any]:
        _answer(lambda: manager().replace(name, monitor))
        return links.shaped_one(store.monitors.get(name), principal)

    @api.delete(
        "/monitors/{name}",
        status_code=204,
        summary="Stop and remove a monitor defined through the API (its history is kept, inactive; editor)",
        responses={
            204: {"description": "Removed"},
            **_UNKNOWN,
            **_detail(409, "Defined in the config file, or other monitors depend on it", "'db' depend(s) on 'shop'"),
            **_UNAVAILABLE,
        },
    )
    def delete(name: Name, _principal: Principal = editor) -> Response:
        _answer(lambda: manager().delete(name))
        return Response(status_code=204)

    @api.post(
        "/reload",
        summary="Re-read the config file (as SIGHUP does); a file with an error changes nothing (admin)",
        responses={
            200: {
                "description": "Reloaded: which monitors were added, removed, restarted or updated",
                "content": {
                    "application/json": {
                        "example": {
                            "reloaded": True,
                            "changes": {"added": ["db"], "removed": [], "restarted": ["shop"], "updated": []},
                        }
                    }
                },
            },
            **_detail(
                422,
                "The file has an error; ronda runs on as before",
                "/etc/ronda/ronda.yaml:12: monitors[1].url: 'tcp://db': tcp:// targets need a port",
            ),
            **_detail(503, "No config file to re-read", "ronda was started without a config file"),
        },
    )
    def reload(_principal: Principal = admin) -> dict[str, Any]:
        try:
            changes = manager().reload()
        except ConfigError as exc:
            raise HTTPException(422, detail=str(exc)) from None
        except MonitorError as exc:
            raise _http(exc) from None
        return {"reloaded": True, "changes": changes.to_json()}

    return api


def _answer(change: Callable[[], object]) -> None:
    try:
        change()
    except MonitorError as exc:
        raise _http(exc) from None


def _http(exc: MonitorError) -> HTTPException:
    if isinstance(exc, InvalidMonitor):
        # The shape of FastAPI's own 422s, so a client reads both kinds of mistake alike.
        detail = [{"type": "value_error", "loc": ["body", p.field], "msg": p.message} for p in exc.problems]
        return HTTPException(422, detail=detail)
    return HTTPException(_STATUS.get(type(exc), 400), detail=str(exc))
