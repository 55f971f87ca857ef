"""`ronda demo`: the demo world, watched by a real ronda service, narrated in the terminal."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import tempfile
import webbrowser
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ronda import eventloop
from ronda.config.schema import Config, Defaults, ReportSettings, ServerConfig, parse_monitor
from ronda.demo.jobs import NightlyJob
from ronda.demo.narrator import Narrator, first_round_over, next_steps, summary
from ronda.demo.reports import ReportFeed, seed_history
from ronda.demo.scenario import BACKUP_TOKEN, DemoWorld
from ronda.invocation import command_name
from ronda.logs import setup_logging
from ronda.node.runner import Service, run_until_signalled
from ronda.target import parse_target

console = Console(highlight=False)


def _free_listen(listen: str) -> str:
    """The address asked for if it is free, else the same host on a free port."""
    host, _, port = listen.rpartition(":")
    with socket.socket() as sock:
        try:
            sock.bind((host, int(port)))
            return listen
        except OSError:
            sock.bind((host, 0))
            free = f"{host}:{sock.getsockname()[1]}"
    console.print(f"[yellow]{listen} is taken; the API listens on {free} instead[/]")
    return free


def demo_config(world: DemoWorld, listen: str, data_dir: Path, interval: float) -> Config:
    ca_file = world.pki.write_ca(str(data_dir / "demo-ca.pem"))
    # Validated like a config file's monitors, so the demo cannot use a key a user could not.
    monitors = [
        parse_monitor({"name": site.name, **({"url": site.url} if site.url else {}), **site.options})
        for site in world.sites()
    ]
    return Config(
        server=ServerConfig(listen=listen, token=None),
        storage=f"sqlite:///{data_dir / 'ronda.db'}",
        defaults=Defaults(interval=interval, timeout=2.0, confirm=2, ca_file=ca_file, nameserver=world.dns.address),
        # The default canaries: the world's resolver, and loopback standing in for the gateway
        # (the machine's own is not the demo's to ping).
        gateway="127.0.0.1",
        monitors=monitors,
        # Users' reports in demo time: the detector's five minutes become a sixth of a cycle.
        reports=ReportSettings(bucket=world.cycle / 6, interval=world.cycle / 24),
    )


DEMO_USER = "demo"
REPORTED = ["api", "shop"]  # the services the demo's users report about


def demo_login(service: Service) -> str:
    """The demo's own dashboard user, with a fresh password each run (kept in --data or
    not, nobody has to remember one)."""
    accounts = service.db.accounts
    password = secrets.token_urlsafe(9)
    if any(entry.user.username == DEMO_USER for entry in accounts.users()):
        accounts.set_password(DEMO_USER, password)
    else:
        accounts.add_user(DEMO_USER, password, role="admin")
    return password


def open_dashboard(url: str) -> None:
    """Open the dashboard in the desktop's browser, where there is a desktop: without one,
    the standard library would start a text browser in this very terminal."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        webbrowser.open(url)


def _shown(url: str | None) -> str:
    """A monitor's target as the banner shows it: passwords masked, push monitors named."""
    if url is None:
        return "(push: its job calls /push/TOKEN)"
    return parse_target(url).url


def _banner(world: DemoWorld, service: Service, listen: str, password: str) -> None:
    console.rule("[bold]ronda demo")
    console.print(
        "A small world of services on loopback, with their own CA and DNS server, breaks and heals "
        f"every {world.cycle:.0f} s the way real outages did. ronda watches it.\n"
    )
    table = Table(show_edge=False, pad_edge=False)
    for column in ("monitor", "target", "what will happen"):
        table.add_column(column)
    for site in world.sites():
        table.add_row(site.name, _shown(site.url), site.story)
    console.print(table)
    base = f"http://{listen}"
    console.print(
        f"\n[bold]Dashboard[/]: [cyan]{base}/[/]  (log in as [cyan]{DEMO_USER}[/], password [cyan]{password}[/])"
        f"  ·  public status page: [cyan]{base}/status[/]",
        soft_wrap=True,
    )
    console.print(f"[bold]Where to look[/] (API token: [cyan]{service.token}[/])")
    auth = f"-H 'Authorization: Bearer {service.token}'"
    console.print(f"  curl -s {auth} {base}/api/v1/monitors", soft_wrap=True, markup=False)
    console.print(f"  curl -s {auth} '{base}/api/v1/incidents?open=true'", soft_wrap=True, markup=False)
    console.print(f"  curl -s {auth} {base}/api/v1/certificates", soft_wrap=True, markup=False)
    console.print(f"  {base}/healthz  ·  API reference: {base}/api/docs", markup=False)
    console.print(
        f"  {command_name()} check https://shop.demo.test:8443/ --nameserver {world.dns.address} "
        f"--ca-file {service.config.defaults.ca_file}",
        soft_wrap=True,
        markup=False,
    )
    canaries = ", ".join(canary.url for canary in service.canaries)
    console.print(f"ronda's own network is proven by its canaries: {canaries}", soft_wrap=True, markup=False)
    console.print("Ctrl-C stops the demo.\n")


def _own_network(connectivity: dict[str, Any]) -> str:
    """ronda's own connectivity as it stands (Connectivity.status), in words: each canary
    answering or not."""
    looks = [
        f"{canary['target']} cannot be checked here ({canary['detail']})"
        if "detail" in canary
        else f"{canary['target']} {'answers' if canary['reachable'] else 'is silent'}"
        for canary in connectivity["canaries"]
    ]
    return f"ronda's own network: {'online' if connectivity['online'] else 'offline'} ({'; '.join(looks)})"


FIRST_CHECKS_WITHIN = 3.0  # seconds: the scheduler spreads first checks over at most this


async def _tell(
    world: DemoWorld, service: Service, narrator: Narrator, listen: str, duration: float | None, stop: asyncio.Event
) -> None:
    """The world's story (breaks and heals, users' reports, the nightly job), told once
    every monitor has been checked: a break before that would be the first thing ronda sees,
    not a change it catches. `duration` counts from then too."""
    await service.checking.wait()
    await asyncio.sleep(min(service.config.defaults.interval, FIRST_CHECKS_WITHIN))
    narrator.begin()
    base = f"http://{listen}"

    def round_over(rounds: int) -> None:
        if rounds == 1:  # once: by then every break has been seen, with its incident
            for line in first_round_over(world.cycle, base):
                narrator.say(line)

    parts = [
        world.run_timeline(narrator.world, round_over),
        ReportFeed(listen, REPORTED, lambda: world.surging).run(),
        NightlyJob(listen, BACKUP_TOKEN, world.cycle, lambda: world.backup_hung).run(),
    ]
    if duration is not None:
        parts.append(_set_after(duration, stop))
    await asyncio.gather(*parts)


async def _set_after(seconds: float, event: asyncio.Event) -> None:
    await asyncio.sleep(seconds)
    event.set()


async def _run(
    world: DemoWorld, folder: Path, listen: str, interval: float, duration: float | None, browser: bool
) -> Narrator:
    await world.start()  # first: the config names the DNS server's port
    service = Service(demo_config(world, listen, folder, interval))
    narrator = Narrator(service.clock, console)
    service.listeners.append(narrator.notice)
    _banner(world, service, listen, demo_login(service))
    if browser:
        asyncio.get_running_loop().call_later(1.0, open_dashboard, f"http://{listen}/")  # once it listens
    seed_history(service.db.engine, REPORTED, service.clock())
    stop = asyncio.Event()
    story = asyncio.create_task(_tell(world, service, narrator, listen, duration, stop))
    try:
        if duration is None:
            await run_until_signalled(service)
        else:
            await service.run(stop)
        console.print(_own_network(service.engine.connectivity_status()), soft_wrap=True, markup=False)
    finally:
        story.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await story
        await world.stop()
        service.close()
    return narrator


def run_demo(
    listen: str = "127.0.0.1:8080",
    data_dir: str | None = None,
    duration: float | None = None,
    cycle: float = 60.0,
    interval: float = 2.0,
    browser: bool = True,
) -> int:
    setup_logging(quiet=True)
    with contextlib.ExitStack() as stack:
        if data_dir:
            folder = Path(data_dir)
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ronda-demo-")))
        world = DemoWorld(cycle=cycle)
        listen = _free_listen(listen)
        narrator = eventloop.run(_run(world, folder, listen, interval, duration, browser))
    console.print(f"\n{summary(narrator.tally())}", soft_wrap=True, markup=False)
    for line in next_steps(f"http://{listen}", data_dir, command_name()):
        console.print(line, soft_wrap=True, markup=False)
    return 0
