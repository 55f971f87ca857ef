"""The demo's world: services on loopback that break and heal on a timer, each the way
a real outage went. Every step is data (when, what breaks, the story behind it), so the
timeline reads like the incident reports it imitates."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ronda.world.dnsserver import DnsServer, Zone
from ronda.world.pki import LocalPKI
from ronda.world.web import Reply, WebServer

log = logging.getLogger("ronda.demo")

PORT = 8443
DOMAIN = "demo.test"  # .test is reserved for testing: it can never leak to a real name


@dataclass(frozen=True)
class Site:
    name: str  # monitor name
    host: str  # DNS name
    address: str  # loopback address it listens on
    url: str
    story: str


@dataclass(frozen=True)
class Step:
    at: float  # share of the cycle, 0..1
    what: str
    action: Callable[[], object]


class DemoWorld:
    """Starts the services and the DNS server, then runs the timeline in cycles."""

    def __init__(self, cycle: float = 60.0) -> None:
        self.cycle = cycle
        self.pki = LocalPKI()
        self.zone = Zone()
        self.dns = DnsServer("127.0.0.1", 0, self.zone)
        now = datetime.now(UTC)
        self._good = lambda host: self.pki.server_context(host)
        self._expired = lambda host: self.pki.server_context(
            host, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2)
        )
        self.shop = self._web("shop", "127.0.0.2", self._good("shop." + DOMAIN))
        self.images = self._web("images", "127.0.0.3", self._good("images.shop." + DOMAIN))
        self.api = self._web("api", "127.0.0.4", self._good("api." + DOMAIN))
        self.chat = self._web("chat", "127.0.0.5", self._good("chat." + DOMAIN))
        self.status = self._web("status", "127.0.0.6", self._good("status." + DOMAIN))
        # Valid, but renewal has stalled: 5 days of a 90-day lifetime left.
        self.mail = self._web(
            "mail",
            "127.0.0.7",
            self.pki.server_context("mail." + DOMAIN, valid_from=now - timedelta(days=85), lifetime=timedelta(days=90)),
        )
        self.shop.default = Reply(
            body=b"<html><h1>Welcome to the shop</h1><img src='https://images.shop.demo.test/logo.png'></html>"
        )

    def _web(self, label: str, address: str, tls: ssl.SSLContext) -> WebServer:
        server = WebServer(address, PORT, tls)
        host = f"{label}.{DOMAIN}" if label != "images" else f"images.shop.{DOMAIN}"
        self.zone.set(host, "A", address)
        return server

    @property
    def servers(self) -> list[WebServer]:
        return [self.shop, self.images, self.api, self.chat, self.status, self.mail]

    def sites(self) -> list[Site]:
        def site(name: str, server: WebServer, host: str, story: str, scheme: str = "https") -> Site:
            path = "/" if scheme == "https" else ""
            return Site(name, host, server.host, f"{scheme}://{host}:{PORT}{path}", story)

        return [
            site(
                "shop", self.shop, f"shop.{DOMAIN}", "its certificate expires unrenewed (Spotify Megaphone, May 2022)"
            ),
            site(
                "shop-images",
                self.images,
                f"images.shop.{DOMAIN}",
                "the image host's certificate expires while the shop stays up (amazon.com, April 2020)",
            ),
            site(
                "api", self.api, f"api.{DOMAIN}", "the app's back end answers 503 and 403 (Blink cameras, Sept. 2025)"
            ),
            site("chat", self.chat, f"chat.{DOMAIN}", "the service disappears from the network (WhatsApp)", "tls"),
            site("status", self.status, f"status.{DOMAIN}", "its DNS name stops resolving"),
            site(
                "mail",
                self.mail,
                f"mail.{DOMAIN}",
                "up, but its certificate renewal has stalled: a warning, not an outage",
            ),
        ]

    def timeline(self) -> list[Step]:
        return [
            Step(
                0.10,
                "shop.demo.test now serves an EXPIRED certificate (nobody renewed it)",
                lambda: self.shop.set_certificate(self._expired(f"shop.{DOMAIN}")),
            ),
            Step(
                0.20,
                "images.shop.demo.test: the asset host's certificate EXPIRED",
                lambda: self.images.set_certificate(self._expired(f"images.shop.{DOMAIN}")),
            ),
            Step(
                0.30,
                "api.demo.test starts answering 503 Service Unavailable (a 503 storm)",
                lambda: setattr(self.api, "default", Reply(status=503, body=b"upstream unavailable")),
            ),
            Step(0.40, "chat.demo.test DISAPPEARS: nothing listens any more", self.chat.stop),
            Step(
                0.50,
                "status.demo.test stops resolving: its DNS record was deleted",
                lambda: self.zone.remove(f"status.{DOMAIN}"),
            ),
            Step(
                0.55,
                "api.demo.test now answers 403 Forbidden to every request",
                lambda: setattr(self.api, "default", Reply(status=403, body=b"forbidden")),
            ),
            Step(
                0.65,
                "shop.demo.test: certificate renewed, the shop is back",
                lambda: self.shop.set_certificate(self._good(f"shop.{DOMAIN}")),
            ),
            Step(
                0.70,
                "images.shop.demo.test: certificate renewed",
                lambda: self.images.set_certificate(self._good(f"images.shop.{DOMAIN}")),
            ),
            Step(0.75, "api.demo.test recovers", lambda: setattr(self.api, "default", Reply())),
            Step(0.80, "chat.demo.test is back on the network", self.chat.start),
            Step(
                0.85,
                "status.demo.test resolves again",
                lambda: self.zone.set(f"status.{DOMAIN}", "A", self.status.host),
            ),
        ]

    async def start(self) -> None:
        await self.dns.start()
        for server in self.servers:
            await server.start()

    async def stop(self) -> None:
        for server in self.servers:
            await server.stop()
        await self.dns.stop()

    async def run_timeline(self, announce: Callable[[str], None]) -> None:
        """Break and heal, cycle after cycle, until cancelled."""
        while True:
            elapsed = 0.0
            for step in self.timeline():
                await asyncio.sleep(step.at * self.cycle - elapsed)
                elapsed = step.at * self.cycle
                result = step.action()
                if asyncio.iscoroutine(result):
                    await result
                announce(step.what)
            await asyncio.sleep(self.cycle - elapsed)
