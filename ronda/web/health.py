"""`/healthz`: whether ronda is checking, for supervisors and load balancers (no token).

The main listener answers it among every other request. `server.health_listen` answers it
on a listener of its own, served where the checks run (the probe worker, ronda/node/worker.py,
or the checks' thread, ronda/service/engine.py): a flood of strangers on the public face
then cannot make a supervisor believe ronda is dead and restart it, at the moment it is
needed most. There it also says whether the service's own
loop (the store, incidents, notices, the web face) still turns, which the main listener
cannot: a stuck loop does not answer at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ronda import __version__


def _always() -> bool:
    return True


def health_answer(
    checking: Callable[[], bool],
    connectivity: Callable[[], dict[str, Any]],
    serving: Callable[[], bool] = _always,
    role: Callable[[], str] = lambda: "leader",
) -> JSONResponse:
    """200 and "ok" while the checks run (and the service's loop turns), or, on a hub that
    stands by, while its loop turns; else 503 and "stalled"."""
    ok = checking() and serving()
    body = {"status": "ok" if ok else "stalled", "online": connectivity()["online"], "version": __version__}
    return JSONResponse(body | {"role": role()}, 200 if ok else 503)


def health_app(
    checking: Callable[[], bool],
    connectivity: Callable[[], dict[str, Any]],
    serving: Callable[[], bool],
) -> Starlette:
    """The app of `server.health_listen`: `/healthz` and nothing else."""

    async def healthz(_request: Request) -> JSONResponse:
        return health_answer(checking, connectivity, serving)

    return Starlette(routes=[Route("/healthz", healthz)])
