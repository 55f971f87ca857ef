"""The demo's world: services on loopback that break and heal on a timer, each the way
a real outage went. Every step is data (when, what breaks, the story behind it), so the
timeline reads like the incident reports it imitates."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from ronda.clock import system_clock
from ronda.demo.jobs import RUNS
from ronda.errors import ServiceError
from ronda.world.dnsserver import DnsServer, Zone
from ronda.world.pki import LocalPKI
from ronda.world.rtsp import AUDIO, VIDEO, RtspServer
from ronda.world.web import Reply, WebServer

log = logging.getLogger("ronda.demo")

PORT = 8443
CAMERA_PORT = 8554
CAMERA_LOGIN = ("admin", "demo-camera")  # a loopback camera's; the monitor's URL masks it
BACKUP_TOKEN = "demo-nightly-backup-heartbeat"  # the push monitor's secret, which its job calls
DOMAIN = "demo.test"  # .test is reserved for testing: it can never leak to a real name


@dataclass(frozen=True)
class Site:
    name: str  # monitor name
    url: str | None  # None: a push monitor, which its job calls
    story: str
    options: dict[str, object] = field(default_factory=dict)  # monitor settings beyond the URL


@dataclass(frozen=True)
class Step:
    at: float  # share of the cycle, 0..1
    what: str
    action: Callable[[], object]
    # A repair: not narrated, since ronda's own "works again" line tells it, with how long it took.
    heals: bool = False


def _name(label: str) -> str:
    return f"{label}.{DOMAIN}"


class DemoWorld:
    """Starts the services and the DNS server, then runs the timeline in cycles."""

    def __init__(self, cycle: float = 60.0) -> None:
        self.cycle = cycle
        self.surging: str | None = None  # the service whose users report a problem right now
        self.pki = LocalPKI()
        # Names here break and come back within seconds, so their records say to keep them one
        # second: resolvers (ronda's among them) keep an answer as long as its TTL says.
        self.zone = Zone(ttl=1)
        self.dns = DnsServer("127.0.0.1", 0, self.zone)
        now = system_clock()  # the world's own clock: its certificates are dated by it
        # One good and one expired certificate per name, made once: a renewal swaps the
        # same two back and forth every cycle, as an unrenewed and a renewed one would.
        self._good = functools.cache(lambda host: self.pki.server_context(host))
        self._expired = functools.cache(
            lambda host: self.pki.server_context(
                host, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2)
            )
        )
        self.podcasts = self._web("podcasts", "127.0.0.2")
        self.shop = self._web("shop", "127.0.0.3")
        self.images = self._web("images.shop", "127.0.0.4")
        self.api = self._web("api", "127.0.0.5")
        self.chat = self._web("chat", "127.0.0.6")
        self.status = self._web("status", "127.0.0.7")
        # Valid, but renewal has stalled: 5 days of a 90-day lifetime left.
        mail_tls = self.pki.server_context(_name("mail"), valid_from=now - timedelta(days=85))
        self.mail = self._web("mail", "127.0.0.8", mail_tls)
        # One name, two backends: one of them will be left behind by a renewal.
        self.www = [self._web("www", address) for address in ("127.0.0.9", "127.0.0.10")]
        self.zone.set(_name("www"), "A", *(server.host for server in self.www))
        self.shop.default = Reply(
            body=f"<html><h1>Welcome to the shop</h1><img src='https://{_name('images.shop')}:{PORT}/logo.png'>"
            "</html>".encode()
        )
        self.images.routes["/logo.png"] = Reply(body=b"\x89PNG...", headers={"Content-Type": "image/png"})
        # A camera on the local network, reached directly (RTSP, Digest), not through a cloud.
        user, password = CAMERA_LOGIN
        self.camera = RtspServer(
            "127.0.0.11", CAMERA_PORT, auth="digest", algorithms=("SHA-256", "MD5"), users={user: password}
        )
        self.zone.set(_name("camera"), "A", self.camera.host)
        self.backup_hung = False  # the nightly job (ronda/demo/jobs.py) stops calling in

    def _web(self, label: str, address: str, tls: ssl.SSLContext | None = None) -> WebServer:
        server = WebServer(address, PORT, tls or self._good(_name(label)))
        self.zone.set(_name(label), "A", address)
        return server

    @property
    def servers(self) -> list[WebServer]:
        return [self.podcasts, self.shop, self.images, self.api, self.chat, self.status, self.mail, *self.www]

    def sites(self) -> list[Site]:
        def url(label: str, scheme: str = "https") -> str:
            return f"{scheme}://{_name(label)}:{PORT}" + ("/" if scheme == "https" else "")

        return [
            Site("podcasts", url("podcasts"), "its certificate expires unrenewed (Spotify's Megaphone, May 2022)"),
            Site(
                "shop",
                url("shop"),
                "the page stays up while the host serving its images lets its certificate "
                "expire (amazon.com, April 2020)",
                {"subresources": True, "expect": {"status": 200, "text": "Welcome"}},
            ),
            Site("api", url("api"), "the app's back end answers 503, then 403 (Blink cameras, Sept. 2025)"),
            Site("chat", url("chat", "tls"), "the service disappears from the network (WhatsApp)"),
            Site("status", url("status"), "its DNS name stops resolving"),
            Site("mail", url("mail"), "up, but its certificate renewal has stalled: a warning, not an outage"),
            Site("www", url("www"), "one of the two servers behind the name keeps an expired certificate"),
            Site(
                "camera",
                f"rtsp://{':'.join(CAMERA_LOGIN)}@{_name('camera')}:{CAMERA_PORT}/stream1?expect=video",
                "the garage camera, on the local network, loses its video track while its audio streams on",
            ),
            Site(
                "backup",
                None,
                "the nightly backup job hangs and misses its heartbeat (a push monitor)",
                {"kind": "push", "period": self.cycle / len(RUNS), "grace": self.cycle / 12, "token": BACKUP_TOKEN},
            ),
        ]

    def timeline(self) -> list[Step]:
        return [
            Step(
                0.08,
                "podcasts.demo.test now serves an EXPIRED certificate (nobody renewed it)",
                lambda: self.podcasts.set_certificate(self._expired(_name("podcasts"))),
            ),
            Step(
                0.16,
                "images.shop.demo.test: the image host's certificate EXPIRED; the shop page itself is fine",
                lambda: self.images.set_certificate(self._expired(_name("images.shop"))),
            ),
            Step(
                0.24,
                "api.demo.test starts answering 503 Service Unavailable (a 503 storm); "
                "app users in four US states start reporting errors",
                self._api_fails,
            ),
            Step(
                0.28,
                "camera.demo.test: the garage camera LOST ITS VIDEO TRACK (it still streams audio)",
                lambda: setattr(self.camera, "tracks", [AUDIO]),
            ),
            Step(0.30, "the nightly backup job hangs: it will not call in", lambda: setattr(self, "backup_hung", True)),
            Step(0.32, "chat.demo.test DISAPPEARS: nothing listens any more", self.chat.stop),
            Step(
                0.40,
                "status.demo.test stops resolving: its DNS record was deleted",
                lambda: self.zone.remove(_name("status")),
            ),
            Step(
                0.46,
                "api.demo.test now answers 403 Forbidden to every request",
                lambda: setattr(self.api, "default", Reply(status=403, body=b"forbidden")),
            ),
            Step(
                0.50,
                "www.demo.test: the backend at 127.0.0.10 still serves the old, EXPIRED certificate",
                lambda: self.www[1].set_certificate(self._expired(_name("www"))),
            ),
            Step(
                0.62,
                "podcasts.demo.test: certificate renewed, the podcasts are back",
                lambda: self.podcasts.set_certificate(self._good(_name("podcasts"))),
                heals=True,
            ),
            Step(
                0.67,
                "images.shop.demo.test: certificate renewed, the images are back",
                lambda: self.images.set_certificate(self._good(_name("images.shop"))),
                heals=True,
            ),
            Step(
                0.45,
                "the nightly backup job is fixed: the next run calls in",
                lambda: setattr(self, "backup_hung", False),
                heals=True,
            ),
            Step(0.72, "api.demo.test recovers; users stop reporting", self._api_recovers, heals=True),
            Step(
                0.78,
                "camera.demo.test: the video track is back",
                lambda: setattr(self.camera, "tracks", [VIDEO, AUDIO]),
                heals=True,
            ),
            Step(0.77, "chat.demo.test is back on the network", self.chat.start, heals=True),
            Step(
                0.82,
                "status.demo.test resolves again",
                lambda: self.zone.set(_name("status"), "A", self.status.host),
                heals=True,
            ),
            Step(
                0.87,
                "www.demo.test: the stale backend gets the renewed certificate",
                lambda: self.www[1].set_certificate(self._good(_name("www"))),
                heals=True,
            ),
        ]

    def _api_fails(self) -> None:
        self.api.default = Reply(status=503, body=b"upstream unavailable")
        self.surging = "api"  # the demo's users (ronda/demo/reports.py) notice

    def _api_recovers(self) -> None:
        self.api.default = Reply()
        self.surging = None

    def _all(self) -> list[WebServer | RtspServer]:
        return [*self.servers, self.camera]

    async def start(self) -> None:
        await self.dns.start()
        for server in self._all():
            try:
                await server.start()
            except OSError as exc:
                await self.stop()
                raise ServiceError(
                    f"the demo world cannot listen on {server.host}:{server.port} ({exc.strerror}); "
                    "is another ronda demo running?"
                ) from None

    async def stop(self) -> None:
        for server in self._all():
            await server.stop()
        await self.dns.stop()

    async def run_timeline(self, announce: Callable[[str], None], round_over: Callable[[int], None]) -> None:
        """Break and heal, cycle after cycle, until cancelled: `announce` hears each break,
        `round_over` the number of each round that ended."""
        rounds = 0
        while True:
            elapsed = 0.0
            for step in sorted(self.timeline(), key=lambda step: step.at):
                await asyncio.sleep(step.at * self.cycle - elapsed)
                elapsed = step.at * self.cycle
                result = step.action()
                if asyncio.iscoroutine(result):
                    await result
                if step.heals:
                    log.debug("demo: %s", step.what)
                else:
                    announce(step.what)
            await asyncio.sleep(self.cycle - elapsed)
            rounds += 1
            round_over(rounds)
