"""Strangers flooding `ronda run`: problem reports and push calls from many loopback
addresses, beside N cheap monitors, against an idle run of the same service.

ronda runs as a user starts it (`python -m ronda run --config FILE`), with `--monitors` TCP
monitors (default 1,000) every `--interval`, each on a port of its own of a listener in a
separate process, which notes when each check connects. A check's lateness is when it
arrived against its slot (its monitor's least late arrival plus whole intervals), so the
scheduler's lag is measured from outside, by the targets themselves.

Phases, each `--seconds` long, one after the other on the same process:

1. idle: nothing but the checks, `/healthz` asked every 100 ms;
2. reports: `--concurrency` keep-alive connections, each bound to its own source address
   (127.2.x.y, `--sources` of them), POST /api/v1/reports at a steady `--report-rate`
   (2,000 a second, the issue's figure), with limits raised so that what is measured is
   the intake, not the limiter;
3. capacity: the same, as fast as ronda answers: how many reports a second it can take
   (the machine is then saturated, the flooding client included, and every figure shows it);
4. limited: the flood at full speed with the default limits (10 per address per 10 min,
   300 a minute in all): nearly all answered 429 before any work;
5. push: the same flood of GET /push/{token} on ten push monitors: over 120 calls a minute
   per monitor are 429;
6. badges: GET /badge/m0/status.svg at a steady `--badge-rate` (1,000 a second), spread
   over the same connections;
7. logins: `--logins` (100) people logging in at once, each from an address of its own and
   again as soon as it is in: the login page (its CSRF cookie and token), then the form with
   the right password, answered 303 to the dashboard, or 429 while the password hashing is
   busy (then again after its Retry-After, as a person would).

`/healthz` is timed on the main listener and on `server.health_listen`, the listener of its
own that ronda serves on the checks' thread, for supervisors and load balancers.

Printed per phase: requests/s answered, by status; reports counted; check lateness p50 and
p99 and `/healthz` latency p50 and p99 on both listeners, with the ratio to the idle phase;
ronda's RSS at the end of the phase. After a clean stop (SIGTERM), every report answered `counted` must be in
the database: the bench says how many were lost (it must be none).

Run from the repository root (a default run takes about 90 s; the warm-up lets every
monitor be checked twice, so its slots are known):

    python3 -m bench.flood [--monitors 1000] [--interval 30] [--seconds 10] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from bench.https_throughput import tree_cpu_seconds, with_children
from bench.probers import machine
from bench.soak import proc_status, read_metrics

TOKEN = "flood-bench-token-0123456789"
SERVICES = 100  # monitors on the status page: the services reports name
PUSH_MONITORS = 10


# -- the monitors' targets, in a process of their own -----------------------------------------


def serve_targets(first_port: int, count: int, ready: Connection, stop: Connection) -> None:
    """Listen on `count` ports from `first_port` on 127.0.0.1; note when each is connected
    to; on a word from `stop`, send back the arrivals per port."""
    arrivals: dict[int, list[float]] = {port: [] for port in range(first_port, first_port + count)}

    async def main() -> None:
        servers = []
        for port in arrivals:

            def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int = port) -> None:
                arrivals[port].append(time.monotonic())
                writer.close()

            servers.append(await asyncio.start_server(arrived, "127.0.0.1", port, backlog=64))
        ready.send("ready")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.recv)
        for server in servers:
            server.close()

    asyncio.run(main())
    stop.send(arrivals)


def free_port_range(count: int) -> int:
    """A first port such that `count` ports from it are free on 127.0.0.1."""
    for first in range(30000, 60000 - count, count + 17):
        socks = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                socks.append(sock)
                # As the listeners will: a port a past run's connections left in TIME-WAIT is free.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise SystemExit("no range of free ports")


# -- ronda ------------------------------------------------------------------------------------


ADMIN_PASSWORD = "flood-bench-admin-password"


def config_text(port: int, first_target: int, args: argparse.Namespace, db: Path, limited: bool) -> str:
    monitors = [
        f"  - {{name: m{i}, url: 'tcp://127.0.0.1:{first_target + i}', interval: {args.interval}s, timeout: 2s}}"
        for i in range(args.monitors)
    ]
    monitors += [f"  - {{name: job{i}, kind: push, period: 1h}}" for i in range(PUSH_MONITORS)]
    services = ", ".join(f"m{i}" for i in range(min(SERVICES, args.monitors)))
    limits = " {}\n" if limited else "\n  per_source: 1000000000\n  global_per_minute: 1000000000\n"
    return (
        f"server:\n  listen: 127.0.0.1:{port}\n  health_listen: 127.0.0.1:{port + 1}\n  checks: {args.checks}\n"
        f"  token: {TOKEN}\n  public_url: http://127.0.0.1:{port}\n"
        f"storage: sqlite:///{db}\ncanaries: []\ngateway: none\n"
        f"reports:{limits}"
        f"status_pages:\n  - {{slug: public, title: Flood, monitors: [{services}]}}\n"
        "monitors:\n" + "\n".join(monitors) + "\n"
    )


def bystander_config(port: int, db: Path) -> str:
    """A second ronda that takes the same reports and checks nothing of the targets (its
    monitors are checked once an hour, at a port where nothing listens)."""
    monitors = [f"  - {{name: m{i}, url: 'tcp://127.0.0.1:9', interval: 1h}}" for i in range(SERVICES)]
    services = ", ".join(f"m{i}" for i in range(SERVICES))
    return (
        f"server:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n"
        f"storage: sqlite:///{db}\ncanaries: []\ngateway: none\n"
        "reports:\n  per_source: 1000000000\n  global_per_minute: 1000000000\n"
        f"status_pages:\n  - {{slug: public, title: Bystander, monitors: [{services}]}}\n"
        "monitors:\n" + "\n".join(monitors) + "\n"
    )


def start_ronda(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ronda", "run", "--config", str(config)],
        env=os.environ | {"RONDA_ADMIN_PASSWORD": ADMIN_PASSWORD},
        stdout=subprocess.DEVNULL,
        stderr=open(config.with_suffix(".log"), "wb"),  # noqa: SIM115 (kept open for the process's life)
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ronda exited: {config.with_suffix('.log').read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            status, _ = asyncio.run(http(port, "GET", "/healthz"))
            if status == 200:
                return proc
        time.sleep(0.3)
    raise SystemExit("ronda did not come up in 120 s")


def rss_mib(pid: int) -> float:
    """The resident memory of ronda and its probe worker, together."""
    return sum(int(proc_status(each)["VmRSS"].split()[0]) for each in with_children(pid)) / 1024


# -- a small HTTP/1.1 client: httpx alone would be the bottleneck ------------------------------


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status, _, body = await read_whole(reader)
    return status, body


async def read_whole(reader: asyncio.StreamReader) -> tuple[int, bytes, bytes]:
    """Status, head and body of one answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, head, body


def request_bytes(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: ronda\r\n{headers}"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def http(port: int, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_bytes(method, path, body, headers + "Connection: close\r\n"))
        return await read_answer(reader)
    finally:
        writer.close()


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    counted: int = 0


async def flood_worker(
    port: int, source: Callable[[], str], make: Callable[[int], bytes], until: float, tally: Tally, gap: float = 0.0
) -> None:
    """One keep-alive connection from one source address at a time, requests back to back
    (or one every `gap` seconds); a new connection (and address) when ronda closes one."""
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source(), 0))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            while time.monotonic() < until:
                if gap:
                    next_at += gap
                    await asyncio.sleep(max(next_at - time.monotonic(), 0))
                writer.write(make(n))
                n += 1
                status, body = await read_answer(reader)
                tally.statuses[status] += 1
                if b'"counted":true' in body:
                    tally.counted += 1
                if status == 429 and n % 50 == 0:
                    break  # another address now and then, as a flood from many would
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def sources(count: int) -> Callable[[], str]:
    addresses = [f"127.2.{i // 250}.{i % 250 + 1}" for i in range(count)]
    state = {"next": 0}

    def take() -> str:
        state["next"] = (state["next"] + 1) % len(addresses)
        return addresses[state["next"]]

    return take


def report_request(n: int) -> bytes:
    body = json.dumps({"service": f"m{n % SERVICES}", "problem": "cannot_connect", "region": "IT-MI"}).encode()
    return request_bytes("POST", "/api/v1/reports", body, "Content-Type: application/json\r\n")


def retry_after(head: bytes) -> float:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"retry-after:"):
            return float(line.split(b":", 1)[1])
    return 1.0


async def login_worker(port: int, address: str, until: float, tally: Tally) -> None:
    """One person logging in, again and again: the login page for its CSRF cookie and
    token, then the form; a new connection (the session's cookie dropped) each time."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(address, 0))
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            writer.write(request_bytes("GET", "/login"))
            status, head, page = await read_whole(reader)
            tally.statuses[status] += 1
            cookie = next(
                line.split(b":", 1)[1].split(b";", 1)[0].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"set-cookie:")
            )
            csrf = page.split(b'name="csrf_token" value="', 1)[1].split(b'"', 1)[0].decode()
            form = f"username=admin&password={ADMIN_PASSWORD}&csrf_token={csrf}&next=/".encode()
            headers = f"Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            writer.write(request_bytes("POST", "/login", form, headers))
            status, head, _ = await read_whole(reader)
            tally.statuses[status] += 1
            if status == 429:  # busy: a person tries again when the page says, not at once
                await asyncio.sleep(min(retry_after(head), max(until - time.monotonic(), 0)))
        except (OSError, asyncio.IncompleteReadError, StopIteration, IndexError):
            tally.statuses[0] += 1
        finally:
            writer.close()


@dataclass
class Phase:
    name: str
    seconds: float
    started: float = 0.0
    ended: float = 0.0
    health_ms: list[float] = field(default_factory=list)  # /healthz on the main listener
    own_health_ms: list[float] = field(default_factory=list)  # ... on server.health_listen
    tally: Tally = field(default_factory=Tally)
    rss: float = 0.0
    cpu: float = 0.0  # ronda's CPU seconds in the phase
    skipped: float = 0.0  # slots the scheduler skipped in the phase (its own count)


@dataclass
class Flood:
    """What a phase sends: requests made by `make` (back to back, or `rate` a second in
    all), or people logging in (`logins` at once)."""

    make: Callable[[int], bytes] | None = None
    rate: float = 0.0
    logins: int = 0
    # Where the requests go; None: the ronda measured. The "elsewhere" phase floods a bystander
    # ronda instead: the machine as busy as under the capacity flood, the measured ronda idle.
    port: int | None = None


async def run_phase(phase: Phase, port: int, pid: int, flood: Flood, args: argparse.Namespace) -> None:
    phase.started = time.monotonic()
    cpu, skipped = tree_cpu_seconds(pid), await skipped_slots(port)
    until = phase.started + phase.seconds
    workers = []
    if flood.make is not None:
        take = sources(args.sources)
        gap = args.concurrency / flood.rate if flood.rate else 0.0
        workers = [
            asyncio.create_task(flood_worker(flood.port or port, take, flood.make, until, phase.tally, gap))
            for _ in range(args.concurrency)
        ]
    take = sources(flood.logins)
    workers += [asyncio.create_task(login_worker(port, take(), until, phase.tally)) for _ in range(flood.logins)]
    while time.monotonic() < until:
        for listener, times in ((port, phase.health_ms), (port + 1, phase.own_health_ms)):
            began = time.perf_counter()
            status, _ = await http(listener, "GET", "/healthz")
            times.append((time.perf_counter() - began) * 1000)
            if status != 200:
                print(f"  /healthz on port {listener} answered {status}")
        await asyncio.sleep(0.1)
    await asyncio.gather(*workers)
    phase.ended = time.monotonic()
    phase.rss = rss_mib(pid)
    phase.cpu = tree_cpu_seconds(pid) - cpu
    phase.skipped = await skipped_slots(port) - skipped


async def skipped_slots(port: int) -> float:
    """ronda_scheduler_skipped_slots_total now: slots a check could not start in."""
    _, metrics = await http(port, "GET", "/metrics", headers=f"Authorization: Bearer {TOKEN}\r\n")
    return read_metrics(metrics.decode())[1]


def lateness(arrivals: dict[int, list[float]], interval: float, start: float, end: float) -> list[float]:
    """Each check's lateness (seconds) in [start, end): its arrival against its slot, the
    slots being the monitor's least late arrival after its first plus whole intervals."""
    out = []
    for every in arrivals.values():
        times = every[1:]  # the first check comes within 3 s of start, off the monitor's grid
        slots = [(t, round((t - times[0]) / interval)) for t in times]
        if len(slots) < 2:
            continue
        base = min(t - slot * interval for t, slot in slots)
        out += [t - base - slot * interval for t, slot in slots if start <= t < end]
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_for_limits(port: int) -> None:
    """Until the reloaded limits apply: one address's reports answered 429."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.2.255.1", 0))
        try:
            writer.write(report_request(0))
            return (await read_answer(reader))[0]
        finally:
            writer.close()

    deadline = time.monotonic() + 120
    while asyncio.run(one()) != 429:
        if time.monotonic() > deadline:
            raise SystemExit("the reloaded limits did not apply within 120 s")
        time.sleep(0.2)


def push_tokens(port: int) -> list[str]:
    status, body = asyncio.run(http(port, "GET", "/api/v1/monitors", headers=f"Authorization: Bearer {TOKEN}\r\n"))
    assert status == 200, body
    return [m["push_url"].rsplit("/", 1)[1] for m in json.loads(body) if m.get("push_url")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=35.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--report-rate", type=float, default=2000.0)
    parser.add_argument("--badge-rate", type=float, default=1000.0)
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--checks", choices=["process", "thread"], default="process", help="server.checks")
    args = parser.parse_args()
    print(f"machine: {machine()}; {args.monitors} TCP monitors every {args.interval:g} s; checks: {args.checks}")

    first_target = free_port_range(args.monitors)
    ready_here, ready_there = multiprocessing.Pipe()
    stop_here, stop_there = multiprocessing.Pipe()
    targets = multiprocessing.Process(target=serve_targets, args=(first_target, args.monitors, ready_there, stop_there))
    targets.start()
    ready_here.recv()
    with tempfile.TemporaryDirectory(prefix="ronda-flood-") as tmp:
        db = Path(tmp) / "ronda.db"
        port = free_port_range(2)  # the API, and the health listener after it
        config = Path(tmp) / "ronda.yaml"
        config.write_text(config_text(port, first_target, args, db, limited=False))
        proc = start_ronda(config, port)
        bystander_port = free_port_range(1)
        bystander = Path(tmp) / "bystander.yaml"
        bystander.write_text(bystander_config(bystander_port, Path(tmp) / "bystander.db"))
        other = start_ronda(bystander, bystander_port)
        try:
            phases = run_all(proc, port, config, first_target, args, db, bystander_port)
        finally:
            for each in (proc, other):
                if each.poll() is None:
                    each.send_signal(signal.SIGTERM)
                    each.wait(60)
        stop_here.send("stop")
        arrivals = stop_here.recv()
        targets.join(10)
        print_phases(phases, arrivals, args)
        stored = sqlite3.connect(db).execute("SELECT count(*) FROM reports").fetchone()[0]
        counted = sum(p.tally.counted for p in phases if p.name != "elsewhere")  # the bystander kept those
        print(f"\nreports answered counted: {counted}; in the database after the stop: {stored}")
        print(f"lost: {counted - stored}")


def run_all(
    proc: subprocess.Popen[bytes],
    port: int,
    config: Path,
    first_target: int,
    args: argparse.Namespace,
    db: Path,
    bystander: int,
) -> list[Phase]:
    time.sleep(args.warmup)  # every monitor checked once or more: the slots are known
    tokens = push_tokens(port)
    names = ("idle", "reports", "capacity", "elsewhere", "limited", "push", "badges", "logins")
    phases = [Phase(name, args.seconds) for name in names]

    def push_request(n: int) -> bytes:
        return request_bytes("GET", f"/push/{tokens[n % len(tokens)]}")

    def badge_request(n: int) -> bytes:
        return request_bytes("GET", "/badge/m0/status.svg")

    asyncio.run(run_phase(phases[0], port, proc.pid, Flood(), args))
    asyncio.run(run_phase(phases[1], port, proc.pid, Flood(report_request, rate=args.report_rate), args))
    asyncio.run(run_phase(phases[2], port, proc.pid, Flood(report_request), args))
    asyncio.run(run_phase(phases[3], port, proc.pid, Flood(report_request, port=bystander), args))
    config.write_text(config_text(port, first_target, args, db, limited=True))
    reload = asyncio.run(http(port, "POST", "/api/v1/reload", headers=f"Authorization: Bearer {TOKEN}\r\n"))
    assert reload[0] == 200, reload  # the default limits from here on
    wait_for_limits(port)
    asyncio.run(run_phase(phases[4], port, proc.pid, Flood(report_request), args))
    asyncio.run(run_phase(phases[5], port, proc.pid, Flood(push_request), args))
    asyncio.run(run_phase(phases[6], port, proc.pid, Flood(badge_request, rate=args.badge_rate), args))
    asyncio.run(run_phase(phases[7], port, proc.pid, Flood(logins=args.logins), args))
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    print(f"stopped cleanly in {time.monotonic() - began:.1f} s (exit {proc.returncode})")
    return phases


def print_phases(phases: list[Phase], arrivals: dict[int, list[float]], args: argparse.Namespace) -> None:
    idle = phases[0]
    idle_late = lateness(arrivals, args.interval, idle.started, idle.ended)
    header = (
        f"{'phase':<9}{'req/s':>8}{'statuses':>26}{'counted/s':>10}{'checks':>7}{'due':>6}{'skipped':>8}"
        f"{'lag p50':>9}{'lag p99':>9}"
        f"{'x idle':>7}{'hz p50':>8}{'hz p99':>8}{'x idle':>7}{'own p50':>8}{'own p99':>8}{'x idle':>7}"
        f"{'RSS MiB':>9}{'CPU %':>7}{'CPU ms/req':>11}"
    )
    print(header)
    print("-" * len(header))
    # `checks` arrived at the targets within the phase, `due` the slots it held: checks that
    # never came are no lag figure, so they are counted beside it.
    for phase in phases:
        wall = phase.ended - phase.started
        late = lateness(arrivals, args.interval, phase.started, phase.ended)
        answered = sum(phase.tally.statuses.values())
        statuses = " ".join(f"{code}:{n}" for code, n in sorted(phase.tally.statuses.items())) or "-"
        lag_ratio = pct(late, 0.99) / pct(idle_late, 0.99)
        hz_ratio = pct(phase.health_ms, 0.99) / pct(idle.health_ms, 0.99)
        own_ratio = pct(phase.own_health_ms, 0.99) / pct(idle.own_health_ms, 0.99)
        print(
            f"{phase.name:<9}{answered / wall:>8.0f}{statuses:>26}{phase.tally.counted / wall:>10.0f}{len(late):>7}"
            f"{args.monitors * wall / args.interval:>6.0f}{phase.skipped:>8.0f}"
            f"{pct(late, 0.5) * 1000:>7.1f}ms{pct(late, 0.99) * 1000:>7.1f}ms{lag_ratio:>7.2f}"
            f"{statistics.median(phase.health_ms):>6.1f}ms{pct(phase.health_ms, 0.99):>6.1f}ms{hz_ratio:>7.2f}"
            f"{statistics.median(phase.own_health_ms):>6.1f}ms{pct(phase.own_health_ms, 0.99):>6.1f}ms{own_ratio:>7.2f}"
            f"{phase.rss:>9.0f}{phase.cpu / wall * 100:>7.0f}{phase.cpu * 1000 / max(answered, 1):>11.3f}"
        )
    print_against_elsewhere({phase.name: phase for phase in phases}, arrivals, args)


def print_against_elsewhere(
    phases: dict[str, Phase], arrivals: dict[int, list[float]], args: argparse.Namespace
) -> None:
    """The capacity flood on ronda against the same flood on the bystander: the machine as
    busy in both, so the ratio is what the flood costs ronda's checks beyond the machine's load."""
    on, off = phases["capacity"], phases["elsewhere"]
    lag_on = pct(lateness(arrivals, args.interval, on.started, on.ended), 0.99) * 1000
    lag_off = pct(lateness(arrivals, args.interval, off.started, off.ended), 0.99) * 1000
    own_on, own_off = pct(on.own_health_ms, 0.99), pct(off.own_health_ms, 0.99)
    print(
        f"\nthe capacity flood on ronda against the same flood on a bystander ronda (p99): "
        f"check lag {lag_on:.1f} / {lag_off:.1f} ms = {lag_on / lag_off:.2f}; "
        f"/healthz on server.health_listen {own_on:.1f} / {own_off:.1f} ms = {own_on / own_off:.2f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    main()
