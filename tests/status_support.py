"""What the status page tests share: a real Database on a tmp SQLite with monitors in every
state, the real app, and a browser-like client that keeps cookies between requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ronda.config.schema import Config
from ronda.storage.database import Database
from ronda.verdict import Finding, Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext

VISITOR = "203.0.113.77"  # the client address every request comes from
TARGETS = {
    "shop": "https://shop.internal.test/",
    "api": "tcp://10.20.30.40:8443",
    "slow": "https://slow.internal.test/",
    "partial": "https://partial.internal.test/",
    "db": "tcp://10.20.30.41:5432",
    "secret": "https://secret.internal.test/",
}
# (status, cause) each monitor ends in
STATES = {
    "shop": ("down", "tcp_refused"),
    "api": ("up", None),
    "slow": ("degraded", "slow_response"),
    "partial": ("degraded", "tcp_refused"),  # some addresses refuse, others answer
    "db": ("down", "tcp_timeout"),  # inside a maintenance window
    "secret": ("down", "http_server_error"),  # on no page
}


def verdict(name: str, status: str, cause: str | None, at: datetime) -> Verdict:
    target = TARGETS[name]
    findings = (Finding(cause, f"it broke at {target}", "internal.test", "10.20.30.40", 443),) if cause else ()
    return Verdict(
        target,
        status,  # type: ignore[arg-type]
        cause,
        f"{cause or 'fine'} at {target} (10.20.30.40)",
        at,
        12.0,
        ("10.20.30.40",),
        findings=findings,
    )


def config(**extra: Any) -> Config:
    now = datetime.now(UTC)
    monitors = [
        {"name": name, "url": url, "tags": ["public"] if name != "secret" else []} for name, url in TARGETS.items()
    ]
    body: dict[str, Any] = {
        "monitors": monitors,
        "maintenance": [
            {
                "name": "Database upgrade",
                "monitors": ["db"],
                "start": now - timedelta(hours=1),
                "end": now + timedelta(hours=1),
            },
            {
                "name": "Network works",
                "tags": ["public"],
                "start": now + timedelta(days=2),
                "end": now + timedelta(days=2, hours=2),
            },
        ],
        "status_pages": [
            {
                "slug": "public",
                "title": "Example services",
                "description": "Everything Example runs for you.",
                "monitors": ["shop", "api", "slow", "partial", "db"],
            }
        ],
    }
    return Config.model_validate(body | extra)


def fill(store: Database, now: datetime) -> int:
    """Two hours of good checks, then each monitor's end state twice (confirm 2); return
    the id of shop's open incident."""
    store.monitors.sync(TARGETS)
    for name, (status, cause) in STATES.items():
        for minutes in range(120, 10, -10):
            store.monitors.record(name, verdict(name, "up", None, now - timedelta(minutes=minutes)), 2)
        for minutes in (5, 4):
            store.monitors.record(name, verdict(name, status, cause, now - timedelta(minutes=minutes)), 2)
    shop = next(i for i in store.incidents.recent(open_only=True) if i.monitor == "shop")
    store.incidents.post_update(
        shop.id, "identified", "A switch failed <b>upstream</b>; replacing it.", "ops", now - timedelta(minutes=2)
    )
    return int(shop.id)


class Browser:
    """Requests through the real app, cookies kept from one to the next, as a browser does."""

    def __init__(self, store: Database, cfg: Config, *, clock: Callable[[], datetime] | None = None) -> None:
        ctx = WebContext(store, "a-token-long-enough-123", config=cfg)
        if clock is not None:
            ctx.clock = clock
        self.app = create_app(ctx)
        self.cookies = httpx.Cookies()
        self.address = VISITOR  # the client address requests come from

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(self.address, 50000))
            async with httpx.AsyncClient(
                transport=transport, base_url="http://ronda.test", cookies=self.cookies
            ) as client:
                response = await client.request(method, path, **kwargs)
                self.cookies = client.cookies
                return response

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)
