"""Strangers on the public pages beside 1,000 monitors: does a flood of requests stall checks?

Starts `ronda run` in its own process with `--monitors` cheap loopback monitors (tcp:// to a
listener this script runs on 127.0.0.1), waits until each has been checked once, then
measures an idle stretch and, one endpoint after another, `--clients` keep-alive clients
asking for it as fast as it answers, for `--seconds` each:

- requests answered per second, and ronda's CPU per request (its process's CPU time over
  the stretch, checks included, over the requests: an upper bound);
- the scheduler's lag (`ronda_scheduler_lag_seconds` from /metrics, sampled each second:
  how late the latest check started), its p50 / p99 / max over the samples, and the check
  slots it skipped (`ronda_scheduler_skipped_slots`);
- `/healthz`'s answer time, asked each second beside the flood.

Every target and every request stays on 127.0.0.1. `--ronda-path DIR` runs the ronda found
there (compare a branch with main: `--ronda-path /work/main`).

    python3 -m bench.public_pages                              # 1,000 monitors, 4 clients, 20 s each
    python3 -m bench.public_pages --seconds 30 --only /status,/status/badge.svg
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.probers import stop

TOKEN = "bench-public-pages-token-0123"
# "#revalidate": what an open status page asks every 30 s (status-live.js): the same page
# with If-None-Match, answered 304 while nothing changed.
REVALIDATE = "#revalidate"
SUBSCRIBE = "POST /status/bench/subscribe"
SUBSCRIBE_FORM = b"kind=email&address=visitor%40example.test&form_token=x"
ENDPOINTS = (
    "/status",
    "/status" + REVALIDATE,
    "/status/bench/logo",
    "/api/docs",
    "/api/docs/assets/swagger-ui-bundle.js",
    "/status/feed.atom",
    "/status/summary.json",
    "/status/badge.svg",
    "/badge/m0000/status.svg",
    "/badge/m0000/uptime.svg",
    # A flood of subscription forms from one address: past the page's per_source limit each
    # is refused (429) before the form, the store or a mail is touched.
    SUBSCRIBE,
)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, monitors: int, interval: str, target_port: int, port: int) -> Path:
    lines = [
        "server:",
        f"  listen: 127.0.0.1:{port}",
        f"  token: {TOKEN}",
        f"  public_url: http://127.0.0.1:{port}",
        f"storage: sqlite:///{folder / 'ronda.db'}",
        "canaries: []  # nothing off loopback",
        "defaults:",
        f"  interval: {interval}",
        "  timeout: 5s",
        "status_pages:",  # every monitor, with a logo (served at /status/bench/logo)
        "  - {slug: bench, title: Bench, logo: logo.svg,",
        "     subscribe: {email: 'mailto://127.0.0.1:9?from=bench@example.test'}}",
        "monitors:",
    ]
    (folder / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>\n')
    lines += [f"  - {{name: m{i:04d}, url: 'tcp://127.0.0.1:{target_port}'}}" for i in range(monitors)]
    path = folder / "ronda.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def target(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What each monitor checks: a port that accepts and hangs up."""
    writer.close()


async def get_with_head(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, headers: str = ""
) -> tuple[int, bytes, bytes]:
    """One GET on a kept-alive connection; the status, the head and the body."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return status, head, body


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, headers: str = ""
) -> tuple[int, bytes]:
    if path.startswith("POST "):  # a form, as a browser posts it
        form = f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(SUBSCRIBE_FORM)}\r\n"
        writer.write(f"POST {path[5:]} HTTP/1.1\r\nHost: 127.0.0.1\r\n{form}\r\n".encode() + SUBSCRIBE_FORM)
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        return int(head.split(b" ", 2)[1]), await reader.readexactly(int(length.group(1))) if length else b""
    status, _, body = await get_with_head(reader, writer, path, headers)
    return status, body


async def client(port: int, endpoint: str, until: float, counts: list[int]) -> None:
    path, revalidate = endpoint.removesuffix(REVALIDATE), endpoint.endswith(REVALIDATE)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        headers = ""
        if revalidate:  # the page's ETag and cookie (its form token) first, as the browser that loaded it holds
            _, head, _ = await get_with_head(reader, writer, path)
            etag = re.search(rb"(?i)\r\netag: *([^\r]+)", head)
            cookie = re.search(rb"(?i)\r\nset-cookie: *([^;\r]+)", head)
            headers = f"If-None-Match: {etag.group(1).decode()}\r\n" if etag else ""
            headers += f"Cookie: {cookie.group(1).decode()}\r\n" if cookie else ""
        while time.monotonic() < until:
            status, body = await get(reader, writer, path, headers)
            counts[0 if status in (200, 304, 429) else 1] += 1  # 429: a flood's form refused, as meant
            counts[2] += len(body)
    finally:
        writer.close()


@dataclass
class Samples:
    lag: list[float] = field(default_factory=list)
    healthz: list[float] = field(default_factory=list)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name}(?:_total)? ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def metrics(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        _, body = await get(reader, writer, "/metrics", f"Authorization: Bearer {TOKEN}\r\n")
        return body.decode()
    finally:
        writer.close()


async def sample_health(port: int, until: float, samples: Samples) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await get(reader, writer, "/healthz")
        samples.healthz.append(time.monotonic() - started)
        writer.close()
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


async def sample_lag(port: int, until: float, samples: Samples) -> None:
    """/metrics reads every monitor's state: at 1,000 monitors it is slow itself, so it is
    asked apart from /healthz, as often as it answers (at most each second)."""
    while time.monotonic() < until:
        started = time.monotonic()
        samples.lag.append(metric(await metrics(port), "ronda_scheduler_lag_seconds"))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass
class Stretch:
    name: str
    seconds: float
    answered: int
    failed: int
    received: int  # body bytes
    cpu: float
    skipped: float
    checks: float
    samples: Samples


async def stretch(name: str, pid: int, port: int, path: str | None, seconds: float, clients: int) -> Stretch:
    before = await metrics(port)
    cpu = cpu_seconds(pid)
    started = time.monotonic()
    until = started + seconds
    samples, counts = Samples(), [0, 0, 0]
    work = [sample_health(port, until, samples), sample_lag(port, until, samples)]
    if path is not None:
        work += [client(port, path, until, counts) for _ in range(clients)]
    await asyncio.gather(*work)
    elapsed = time.monotonic() - started
    after = await metrics(port)
    return Stretch(
        name,
        elapsed,
        counts[0],
        counts[1],
        counts[2],
        cpu_seconds(pid) - cpu,
        metric(after, "ronda_scheduler_skipped_slots") - metric(before, "ronda_scheduler_skipped_slots"),
        metric(after, "ronda_checks") - metric(before, "ronda_checks"),
        samples,
    )


def report(row: Stretch) -> str:
    rate = row.answered / row.seconds
    # All of ronda's CPU over the stretch, checks included, per request: an upper bound that
    # stays meaningful on a busy machine, where "beyond idle" is lost in the noise.
    per_request = f"{1000 * row.cpu / row.answered:8.2f}" if row.answered else "       -"
    size = row.received / max(row.answered, 1) / 1000
    lag, health = row.samples.lag, row.samples.healthz
    return (
        f"{row.name:26} {rate:8.1f} {row.failed:6d} {size:8.1f} {per_request} {100 * row.cpu / row.seconds:5.0f}% "
        f"{row.checks / row.seconds:7.1f} {row.skipped:7.0f} "
        f"{percentile(lag, 50):6.2f} {percentile(lag, 99):6.2f} {max(lag, default=0):6.2f} "
        f"{1000 * percentile(health, 50):7.1f} {1000 * percentile(health, 99):7.1f}"
    )


HEADER = (
    f"{'endpoint':26} {'req/s':>8} {'!200':>6} {'KB/r':>8} {'cpu ms/r':>8} {'cpu':>6} {'chk/s':>7} {'skipped':>7} "
    f"{'lag50':>6} {'lag99':>6} {'lagmax':>6} {'hz50ms':>7} {'hz99ms':>7}"
)


async def wait_until_checked(port: int, monitors: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if metric(await metrics(port), "ronda_checks") >= monitors:
                return
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        await asyncio.sleep(1)
    raise SystemExit(f"ronda did not check {monitors} monitors within the wait; see its log")


async def warm(port: int, path: str) -> None:
    """One request before the stretch: what is measured is the flood, not the first answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await get(reader, writer, path)
    finally:
        writer.close()


async def settle(port: int, deadline: float) -> None:
    """All monitors start within seconds: wait until the first round's backlog is gone."""
    while time.monotonic() < deadline:
        if metric(await metrics(port), "ronda_scheduler_lag_seconds") < 2.0:
            return
        await asyncio.sleep(2)
    print("(the scheduler is still behind after the wait: this machine is too busy for a clean figure)")


async def main(args: argparse.Namespace) -> None:
    server = await asyncio.start_server(target, "127.0.0.1", 0, backlog=1024)
    target_port = server.sockets[0].getsockname()[1]
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ronda-bench-") as folder:
        config = write_config(Path(folder), args.monitors, args.interval, target_port, port)
        here = Path(args.ronda_path).resolve()
        env = dict(os.environ, PYTHONPATH=str(here))
        log = open(Path(folder) / "ronda.log", "w")  # noqa: SIM115 - closed below, after ronda stops
        ronda = subprocess.Popen(
            [sys.executable, "-m", "ronda", "run", "--config", str(config)],
            env=env,
            cwd=here,  # `python -m` puts the working folder first on the path, before PYTHONPATH
            stdout=log,
            stderr=log,
        )
        try:
            await wait_until_checked(port, args.monitors, time.monotonic() + 120)
            print(f"ronda from {args.ronda_path}: {args.monitors} monitors every {args.interval}, all checked once")
            print(f"{args.clients} clients per endpoint, {args.seconds:.0f} s each\n")
            await settle(port, time.monotonic() + 120)
            print(HEADER)
            print(report(await stretch("(idle)", ronda.pid, port, None, args.seconds, 0)), flush=True)
            for path in args.only.split(",") if args.only else ENDPOINTS:
                await warm(port, path.removesuffix(REVALIDATE))
                row = await stretch(path, ronda.pid, port, path, args.seconds, args.clients)
                print(report(row), flush=True)
                await asyncio.sleep(2)  # let a backlog drain before the next
        finally:
            stop(ronda, 30)
            log.close()
            server.close()
    print(
        "\nreq/s: answered per second; !200: other answers (304 counts as answered, and 429 for "
        "the subscription flood); KB/r: body size; "
        "cpu ms/r: ronda's CPU (checks included) per request; "
        "cpu: ronda's CPU share; chk/s: checks run per second; skipped: check slots skipped; "
        "lag50/99/max: the scheduler's lag in seconds, sampled each second; hz50/99ms: /healthz's answer time."
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--interval", default="30s", help="each monitor's check interval")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive clients per endpoint")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each stretch")
    parser.add_argument("--only", default="", help="comma-separated paths instead of every public endpoint")
    parser.add_argument("--ronda-path", default=".", help="the folder whose ronda package to run")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
