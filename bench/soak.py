"""A bounded soak: `ronda run` for a set time, with targets that break and heal at random
and strangers flooding its public face, and a verdict on whether anything grows.

- **ronda**: `python -m ronda run` in its own process, with its own config and SQLite file
  in a temporary folder: `--monitors` monitors (1,000) every `--interval` (30 s), a quarter
  `tcp://`, the rest `http://`, one status page showing every tenth, and a notification
  channel posting JSON to the farm. Canaries are off, so nothing leaves loopback.
- **The farm**, in its own process: one HTTP server per monitor, each on its own address
  127.77.X.Y (same port). Each switches at random times, fixed by `--seed`, between up and
  one of three faults: refusing (no listener), 5xx (503) and slow (answers after 1 to 8 s,
  beyond the monitors' 5 s timeout about half the time). Up lasts 10 minutes on average,
  a fault 90 s, so about one monitor in eight is failing at any time and incidents open and
  resolve all along.
- **Floods**, from this process: reports posted to `/api/v1/reports`, each from its own
  address 127.88.X.Y (`--report-rate` a second), badges (`--badge-rate`), and the status
  page, its summary.json and its feed (`--page-rate`).
- **Samples** every `--sample-every` seconds: ronda's RSS and open file descriptors
  (/proc/PID), its CPU and the time `/healthz` takes; every SCRAPE_EVERY, from `/metrics`,
  the checks run and the histogram of how late checks started
  (`ronda_check_start_lag_seconds`).
- **Lost checks**, after ronda stops, from the results it stored: each monitor's slots lie
  on a grid `interval` apart from its first check (re-checks come in between), and a gap
  between two stored checks longer than a slot plus SLACK means slots with no check. Summed
  over the monitors from the end of the warm-up to the end of the run, against the slots
  due in that time (`lost_checks`).

It fails (exit 1) when, after the warm-up, RSS grows faster than RSS_BOUND_MIB_PER_10MIN by
linear fit, open file descriptors grow by more than FD_BOUND, more than LOST_BOUND of the
checks due were lost, or ronda took longer than STOP_BOUND to stop on SIGTERM. Lag is
reported, not judged: how late checks may be is the flood bench's bound, not a soak's.

Run from the repository root (the defaults take about 12 minutes):

    python3 -m bench.soak [--minutes 10] [--monitors 1000] [--seed 1]
    python3 -m bench.soak --minutes 1 --monitors 200      # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.https_throughput import tree_cpu_seconds, wait_for_line, watch_parent, with_children
from bench.probers import ROOT, die_with_parent, free_port, machine, machine_busy_seconds, stop
from ronda import eventloop
from ronda.world.web import Reply, WebServer

Request = tuple[str, str, bytes, str | None]  # method, path, body, source address
MakeRequest = Callable[[random.Random], Request]

# The bounds the soak holds ronda to, after the warm-up.
RSS_BOUND_MIB_PER_10MIN = 16.0  # slope of a linear fit of RSS over time
FD_BOUND = 16  # open descriptors, last minute's median against the first minute's
LOST_BOUND = 0.005  # share of the checks due that were lost
STOP_BOUND = 10.0  # seconds from SIGTERM to exit

TIMEOUT = 5.0  # each monitor's check budget; "slow" targets answer after 1 to 8 s
SLACK = TIMEOUT + 5.0  # how late a stored check may be without a slot counting as lost
UP_MEAN = 600.0  # seconds a target stays up, on average (exponential)
FAULT_MEAN = 90.0  # seconds a fault lasts, on average
FAULTS = ("refusing", "5xx", "slow")
PUBLIC_EVERY = 10  # every tenth monitor is on the status page (badges, reports)
TOKEN = "soak-token-" + "x" * 16
PASSWORD = "soak-admin-password-1"  # so ronda does not log a random one
LAG_QUANTILES = (0.5, 0.9, 0.99, 0.999)
SCRAPE_EVERY = 15.0  # seconds between scrapes of /metrics, a usual Prometheus setting
FINAL_WAIT = 120.0  # seconds the last sample may wait for ronda to answer
CLIENT_LIMIT = 64  # flood requests in flight at most; beyond, a request is not sent


# ---------------------------------------------------------------------------- addresses


def target_host(i: int) -> str:
    """Monitor i's target address: 127.77.1.1 and up (250 per /24)."""
    return f"127.77.{1 + i // 250}.{1 + i % 250}"


SINK_HOST = "127.77.0.1"  # where the notification channel posts


def monitor_name(i: int) -> str:
    return f"m{i:04d}"


def target_url(i: int, port: int) -> str:
    """A quarter of the monitors only connect (tcp://); the others ask for / (http://)."""
    return f"tcp://{target_host(i)}:{port}" if i % 4 == 3 else f"http://{target_host(i)}:{port}/"


def is_public(i: int) -> bool:
    return i % PUBLIC_EVERY == 0


# ---------------------------------------------------------------------------- the farm


async def serve_farm(targets: int, port: int, seed: int) -> None:
    """The farm process: every target's server, each changing state on its own schedule,
    and the notification sink; `ready` on stdout, then serve until stdin closes."""
    raise_fd_limit()
    servers = [WebServer(target_host(i), port) for i in range(targets)]
    sink = WebServer(SINK_HOST, port)
    sink.default = Reply(body=b"{}", headers={"Content-Type": "application/json"})
    for server in [*servers, sink]:
        await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    changes: Counter[str] = Counter()
    tasks = [
        asyncio.create_task(break_and_heal(s, random.Random(seed * 100_003 + i), changes))
        for i, s in enumerate(servers)
    ]
    print("ready", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in [*servers, sink]:
        await server.stop()
    print(json.dumps({"served": sum(s.requests for s in servers), "notices": sink.requests, "changes": changes}))


def raise_fd_limit() -> None:
    """A thousand listeners and their connections pass the usual soft limit of 1,024."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def break_and_heal(server: WebServer, rng: random.Random, changes: Counter[str]) -> None:
    """A target's life: up, then a fault, then up again, each for a random time. It starts
    in a fault with the share of time faults take, so the first minutes are typical too."""
    faulty = rng.random() < FAULT_MEAN / (UP_MEAN + FAULT_MEAN)
    while True:
        state = rng.choice(FAULTS) if faulty else "up"
        changes[state] += 1
        if state == "refusing":
            await server.stop()
        else:
            if not server.running:
                await server.start()
            server.default = fault_reply(state, rng)
        await asyncio.sleep(rng.expovariate(1 / (FAULT_MEAN if faulty else UP_MEAN)))
        faulty = not faulty


def fault_reply(state: str, rng: random.Random) -> Reply:
    if state == "5xx":
        return Reply(status=503, body=b"busy")
    if state == "slow":
        return Reply(delay=rng.uniform(1.0, 8.0))
    return Reply()


@contextlib.contextmanager
def farm_process(args: argparse.Namespace) -> Iterator[dict[str, object]]:
    """The farm in its own process, serving until we leave the block; the dict is filled
    then with what it counted (requests served, notices received, state changes)."""
    command = [sys.executable, "-m", "bench.soak", "--farm", "--monitors", str(args.monitors)]
    command += ["--farm-port", str(args.farm_port), "--seed", str(args.seed)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=die_with_parent
    )
    counted: dict[str, object] = {}
    try:
        wait_for_line(proc, b"ready", timeout=120)
        yield counted
    finally:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.close()  # the farm's cue to stop
        stop(proc, 30, None)
        with contextlib.suppress(ValueError):
            counted.update(json.loads(proc.stdout.read() or b"{}"))


# ---------------------------------------------------------------------------- ronda


def write_config(folder: Path, args: argparse.Namespace, listen_port: int) -> Path:
    monitors = [
        {
            "name": monitor_name(i),
            "url": target_url(i, args.farm_port),
            "interval": f"{args.interval:g}s",
            "timeout": f"{TIMEOUT:g}s",
            "tags": ["public"] if is_public(i) else [],
        }
        for i in range(args.monitors)
    ]
    config = {
        "server": {"listen": f"127.0.0.1:{listen_port}", "token": TOKEN},
        "storage": f"sqlite:///{folder / 'ronda.db'}",
        "canaries": [],  # the default canaries ask the machine's resolver and ping the gateway
        "notify": [{"name": "sink", "url": f"json://{SINK_HOST}:{args.farm_port}/notify"}],
        "monitors": monitors,
        "status_pages": [{"slug": "public", "title": "Soak", "tags": ["public"]}],
    }
    path = folder / "ronda.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def ronda_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), RONDA_ADMIN_PASSWORD=PASSWORD)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ronda", "run", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop_ronda(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM, and the seconds ronda took to exit (killed after 60)."""
    started = time.monotonic()
    stop(proc, 60)
    return time.monotonic() - started


# ---------------------------------------------------------------------------- HTTP, by hand


async def request(
    port: int, method: str, path: str, body: bytes = b"", source: str | None = None, headers: str = ""
) -> int:
    """One request on a fresh connection (from `source` when given); the status, 0 when the
    connection failed, -1 when no answer came within 30 s. Hand-written: a client library
    would pool connections, and each flood request must be its own stranger."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0) if source else None), 30
        )
    except (OSError, TimeoutError):
        return 0
    try:
        writer.write(head.encode() + b"\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), 30)
        return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    except (OSError, TimeoutError, ValueError, IndexError):
        return -1
    finally:
        writer.close()


async def fetch(port: int, path: str) -> bytes:
    """A GET with the API token on one connection; the body (the server closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        answer = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        body = unchunk(body)
    return body


def unchunk(body: bytes) -> bytes:
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


async def wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 120) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise SystemExit(f"ronda exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if await request(port, "GET", "/healthz") == 200:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"ronda did not answer /healthz within {timeout:g} s; its log: {log}")


# ---------------------------------------------------------------------------- floods


@dataclass
class Flood:
    """Requests fired at a steady rate whatever ronda does (an open loop, as strangers are),
    at most CLIENT_LIMIT in flight; the answers counted by status."""

    name: str
    rate: float
    answers: Counter[int] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)  # how long each answer took
    not_sent: int = 0  # the client was at its limit: ronda answered too slowly

    async def run(self, port: int, rng: random.Random, make: MakeRequest, until: float) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(CLIENT_LIMIT)
        period, due = 1 / self.rate, time.monotonic()
        while (due := due + period) < until:
            await asyncio.sleep(max(due - time.monotonic(), 0))
            if slots.locked():
                self.not_sent += 1
                continue
            task = asyncio.create_task(self._one(port, slots, make, rng))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight, return_exceptions=True)

    async def _one(self, port: int, slots: asyncio.Semaphore, make: MakeRequest, rng: random.Random) -> None:
        async with slots:
            method, path, body, source = make(rng)
            started = time.monotonic()
            self.answers[await request(port, method, path, body, source)] += 1
            self.seconds.append(time.monotonic() - started)

    def summary(self) -> str:
        sent = sum(self.answers.values())
        codes = ", ".join(f"{code or 'failed'}: {n}" for code, n in sorted(self.answers.items()))
        times = ""
        if len(self.seconds) >= 2:
            cuts = statistics.quantiles(self.seconds, n=100)
            times = f", answered in median {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms"
        return f"{self.name}: {sent} sent ({codes}){times}, {self.not_sent} not sent (client at its limit)"


def report_request(publics: list[str]) -> MakeRequest:
    def make(rng: random.Random) -> Request:
        body = json.dumps({"service": rng.choice(publics), "problem": "cannot_connect", "region": "Milano"})
        source = f"127.88.{rng.randrange(256)}.{rng.randrange(1, 255)}"  # about 65,000 strangers
        return "POST", "/api/v1/reports", body.encode(), source

    return make


def badge_request(publics: list[str]) -> MakeRequest:
    def make(rng: random.Random) -> Request:
        path = "/status/badge.svg" if rng.random() < 0.2 else f"/badge/{rng.choice(publics)}/status.svg"
        return "GET", path, b"", None

    return make


def page_request(rng: random.Random) -> Request:
    return "GET", rng.choice(["/status/public", "/status/public/summary.json", "/status/public/feed.atom"]), b"", None


# ---------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the soak began
    rss_mib: float
    fds: int
    threads: int
    cpu: float  # ronda's CPU seconds so far
    machine_busy: float  # the machine's busy CPU seconds so far
    healthz_s: float
    checks: float  # ronda_checks_total
    skipped: float  # ronda_scheduler_skipped_slots_total
    lag: list[tuple[float, float]]  # ronda_check_start_lag_seconds cumulative buckets
    # None: not asked this time; False: /metrics did not answer in time. Either way checks,
    # skipped and lag are the last scrape's.
    scraped: bool | None = True


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


async def take_sample(
    pid: int, port: int, began: float, previous: Sample | None, wait: float, metrics: bool = True
) -> Sample:
    """ronda's process now, then /healthz and (when `metrics`) /metrics at once, each given
    `wait` seconds: a stalled ronda delays the samples but does not stop them (the last
    scrape's figures stand in; the lag histogram is cumulative, so a later scrape counts
    what was missed)."""
    tree = with_children(pid)  # ronda and its probe worker, together
    statuses = [proc_status(each) for each in tree]
    at = time.monotonic() - began
    process = {
        "rss_mib": sum(int(status["VmRSS"].split()[0]) for status in statuses) / 1024,
        "threads": sum(int(status["Threads"]) for status in statuses),
    }
    fds = sum(len(os.listdir(f"/proc/{each}/fd")) for each in tree)
    cpu, busy = tree_cpu_seconds(pid), machine_busy_seconds()
    scraping = scrape(port, wait) if metrics else asyncio.sleep(0)
    healthz, scraped = await asyncio.gather(timed_healthz(port, wait), scraping, return_exceptions=True)
    checks, skipped, lag = (previous.checks, previous.skipped, previous.lag) if previous else (0.0, 0.0, [])
    if isinstance(scraped, tuple):
        checks, skipped, lag = scraped
    return Sample(
        at=at,
        rss_mib=float(process["rss_mib"]),
        fds=fds,
        threads=int(process["threads"]),
        cpu=cpu,
        machine_busy=busy,
        healthz_s=healthz if isinstance(healthz, float) else wait,
        checks=checks,
        skipped=skipped,
        lag=lag,
        scraped=isinstance(scraped, tuple) if metrics else None,
    )


async def timed_healthz(port: int, wait: float) -> float:
    """Seconds /healthz took to answer 200; `wait` when it did not."""
    started = time.monotonic()
    with contextlib.suppress(TimeoutError):
        if await asyncio.wait_for(request(port, "GET", "/healthz"), wait) == 200:
            return time.monotonic() - started
    return wait


async def scrape(port: int, wait: float) -> tuple[float, float, list[tuple[float, float]]]:
    return read_metrics((await asyncio.wait_for(fetch(port, "/metrics"), wait)).decode())


def read_metrics(text: str) -> tuple[float, float, list[tuple[float, float]]]:
    """Checks run, slots skipped (the scheduler's own count) and the lag histogram."""
    checks, skipped, lag = 0.0, 0.0, []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ronda_checks_total":
                checks = sample.value
            elif sample.name == "ronda_scheduler_skipped_slots_total":
                skipped = sample.value
            elif sample.name == "ronda_check_start_lag_seconds_bucket":
                lag.append((float(sample.labels["le"]), sample.value))
    return checks, skipped, sorted(lag)


Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), as read_metrics reads them


def lag_between(before: Buckets, after: Buckets) -> Buckets:
    """Cumulative bucket counts of the checks that started between two scrapes."""
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


def lag_quantile(before: Buckets, after: Buckets, q: float) -> float:
    """The q-quantile of the lags between two scrapes, interpolated inside its bucket as
    Prometheus' histogram_quantile does; the highest finite bound when it lies beyond."""
    counts = lag_between(before, after)
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return math.nan
    rank, lower, below = q * total, 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1)
        lower, below = bound, cumulative
    return lower


async def sample_until(pid: int, port: int, began: float, until: float, every: float, out: list[Sample]) -> None:
    """Sample every `every` seconds; scrape /metrics every SCRAPE_EVERY (a scrape reads every
    monitor's state: asked for every few seconds, it would be a load of its own)."""
    wait, scraped_at = max(2 * every, 10.0), -math.inf
    while time.monotonic() < until:
        metrics = time.monotonic() - scraped_at >= SCRAPE_EVERY
        scraped_at = time.monotonic() if metrics else scraped_at
        out.append(await take_sample(pid, port, began, out[-1] if out else None, wait, metrics))
        if len(out) > 1 and int(out[-1].at // 60) > int(out[-2].at // 60):
            print_progress(out)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - began - out[-1].at)))


def print_progress(samples: list[Sample]) -> None:
    last = samples[-1]
    print(
        f"  {last.at / 60:5.1f} min  RSS {last.rss_mib:6.1f} MiB  fds {last.fds:4d}  checks {last.checks:8.0f}"
        f"  healthz {last.healthz_s * 1000:6.0f} ms",
        flush=True,
    )


# ---------------------------------------------------------------------------- lost checks


@dataclass(frozen=True)
class Lost:
    due: int  # slots due between the end of the warm-up and the stop, all monitors
    lost: int
    verdicts: int  # checks stored in that time, re-checks included
    worst: list[tuple[str, int]]  # monitors with most lost slots


def lost_checks(database: Path, start: datetime, end: datetime, interval: float, monitors: int) -> Lost:
    """Slots due and slots with no check, from the results ronda stored.

    A monitor's slots lie on a grid `interval` apart from its first check (ronda keeps the
    phase), so that many were due between `start` and `end`. Each check is stored up to
    SLACK after its slot (its lag plus its duration: a verdict is dated when it is made), so
    a gap of `gap` seconds between two checks held floor((gap - SLACK) / interval) slots
    nobody checked. Re-checks only shorten gaps. A monitor's last check before `start`
    opens its first gap, `end` closes its last."""
    first: dict[str, datetime] = {}
    before: dict[str, datetime] = {}
    checks: dict[str, list[datetime]] = {}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT m.name, r.checked_at FROM results r JOIN monitors m ON m.id = r.monitor_id"
            " WHERE r.checked_at < ? ORDER BY r.checked_at",
            (naive(end),),
        )
        for name, stored in rows:
            at = aware(stored)
            first.setdefault(name, at)
            if at < start:
                before[name] = at
            else:
                checks.setdefault(name, []).append(at)
    lost, due = {}, 0
    for name in map(monitor_name, range(monitors)):
        points = [before.get(name, start), *checks.get(name, []), end]
        lost[name] = sum(
            max(math.floor(((b - a).total_seconds() - SLACK) / interval), 0) for a, b in itertools.pairwise(points)
        )
        due += slots_between(first.get(name, start), interval, start, end)
    worst = sorted(((n, k) for n, k in lost.items() if k), key=lambda item: -item[1])[:5]
    return Lost(due, sum(lost.values()), sum(len(t) for t in checks.values()), worst)


def slots_between(origin: datetime, interval: float, start: datetime, end: datetime) -> int:
    """Slots origin + k * interval (k >= 0) in [start, end)."""
    seconds = [(moment - origin).total_seconds() / interval for moment in (start, end)]
    return max(math.ceil(seconds[1]) - max(math.ceil(seconds[0]), 0), 0)


def naive(moment: datetime) -> str:
    """As SQLAlchemy stores ronda's UTC times in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


# ---------------------------------------------------------------------------- the verdict


@dataclass(frozen=True)
class Judgement:
    rss_slope: float  # MiB per 10 minutes after the warm-up
    fd_growth: float
    lost_share: float
    stop_s: float

    def failures(self) -> list[str]:
        out = []
        if self.rss_slope > RSS_BOUND_MIB_PER_10MIN:
            out.append(f"RSS grew {self.rss_slope:.1f} MiB per 10 min (bound {RSS_BOUND_MIB_PER_10MIN:g})")
        if self.fd_growth > FD_BOUND:
            out.append(f"open file descriptors grew by {self.fd_growth:g} (bound {FD_BOUND})")
        if self.lost_share > LOST_BOUND:
            out.append(f"{self.lost_share:.2%} of the checks due were lost (bound {LOST_BOUND:.1%})")
        if self.stop_s > STOP_BOUND:
            out.append(f"ronda took {self.stop_s:.1f} s to stop on SIGTERM (bound {STOP_BOUND:g} s)")
        return out


def judge(samples: list[Sample], warm_up: float, lost: Lost, stop_s: float) -> Judgement:
    settled = [s for s in samples if s.at >= warm_up] or samples[-1:]
    slope = 0.0
    if len(settled) >= 3:
        slope = statistics.linear_regression([s.at for s in settled], [s.rss_mib for s in settled]).slope * 600
    first = [s.fds for s in settled if s.at < settled[0].at + 60]
    last = [s.fds for s in settled if s.at > settled[-1].at - 60]
    fd_growth = statistics.median(last) - statistics.median(first)
    return Judgement(slope, fd_growth, lost.lost / lost.due if lost.due else 0.0, stop_s)


def stored_per_minute(database: Path, began: datetime) -> Counter[int]:
    """Checks stored in each minute of the run (from 0), re-checks included: what ronda did,
    whether or not /metrics answered at the time."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT checked_at FROM results WHERE checked_at >= ?", (naive(began),))
        return Counter(int((aware(at) - began).total_seconds() // 60) for (at,) in rows)


def aware(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def print_minutes(samples: list[Sample], stored: Counter[int], interval: float, monitors: int) -> None:
    print(
        "\nminute  RSS MiB  fds  threads  ronda CPU %  machine CPU %  checks/s (due)  lag p50 ms  lag p99 ms"
        "  lag max<=  healthz ms"
    )
    expected = monitors / interval
    by_minute: dict[int, list[Sample]] = {}
    for sample in samples:
        by_minute.setdefault(int(sample.at // 60), []).append(sample)
    previous = samples[0]
    for minute, group in sorted(by_minute.items()):
        last = group[-1]
        span = max(last.at - previous.at, 1e-9)
        p50, p99 = (lag_quantile(previous.lag, last.lag, q) * 1000 for q in (0.5, 0.99))
        ronda_cpu, machine_cpu = (
            100 * (last.cpu - previous.cpu) / span,
            100 * (last.machine_busy - previous.machine_busy) / span,
        )
        print(
            f"{minute + 1:6d}  {last.rss_mib:7.1f}  {last.fds:3d}  {last.threads:7d}"
            f"  {ronda_cpu:11.0f}  {machine_cpu:13.0f}"
            f"  {stored[minute] / 60:8.1f} ({expected:4.1f})  {p50:10.0f}  {p99:10.0f}"
            f"  {max_lag(previous.lag, last.lag):>9}  {max(s.healthz_s for s in group) * 1000:10.0f}"
        )
        previous = last
    print(f"(CPU in % of one core, {os.cpu_count()} cores; checks/s as stored, re-checks included; lag from /metrics)")


def max_lag(before: Buckets, after: Buckets) -> str:
    """The upper bound of the bucket the latest check between two scrapes fell in."""
    counts = lag_between(before, after)
    for bound, count in counts:
        if count == counts[-1][1]:
            return "> 60 s" if math.isinf(bound) else f"{bound:g} s"
    return "-"


def print_summary(run: Run, warm_up: float, lost: Lost, judgement: Judgement) -> None:
    settled = [s for s in run.samples if s.at >= warm_up] or run.samples[-1:]
    first, last = settled[0], settled[-1]
    print(f"\nafter the warm-up ({warm_up / 60:g} min), over {(last.at - first.at) / 60:.1f} min:")
    print(f"  RSS {first.rss_mib:.1f} -> {last.rss_mib:.1f} MiB, linear fit {judgement.rss_slope:+.1f} MiB per 10 min")
    growth = f"{judgement.fd_growth:+g}"
    print(f"  open file descriptors {first.fds} -> {last.fds} (medians of the last and first minute: {growth})")
    # To the last sample, taken after the floods: the histogram counts every check until then.
    lags = first.lag, run.final.lag
    quantiles = ", ".join(f"p{q * 100:g} {lag_quantile(*lags, q) * 1000:.0f} ms" for q in LAG_QUANTILES)
    scraped = "" if run.final.scraped else " (the last scrape failed: up to the last one that answered)"
    print(f"  check start lag: {quantiles}{scraped}")
    healthz = [s.healthz_s * 1000 for s in settled]
    print(f"  /healthz: median {statistics.median(healthz):.0f} ms, max {max(healthz):.0f} ms")
    print(
        f"  checks due {lost.due:.0f}, lost {lost.lost} ({judgement.lost_share:.3%}); verdicts stored {lost.verdicts}"
        " (re-checks included)"
    )
    print(f"  slots the scheduler itself counted as skipped: {last.skipped - first.skipped:.0f}")
    if lost.worst:
        print("  most lost: " + ", ".join(f"{name} {k}" for name, k in lost.worst))
    missed = sum(s.scraped is False for s in settled)
    if missed:
        asked = sum(s.scraped is not None for s in settled)
        print(f"  /metrics did not answer within the wait {missed} times of {asked}")
    print(f"  SIGTERM to exit: {judgement.stop_s:.1f} s")


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Run:
    samples: list[Sample]
    final: Sample  # once the floods are over and ronda has answered what they left
    began: datetime  # wall time, as ronda dates its checks


async def soak(args: argparse.Namespace, proc: subprocess.Popen[bytes], port: int, log: Path) -> Run:
    """Floods and samples for `--minutes`; then a last sample, given two minutes to answer."""
    await wait_ready(proc, port, log)
    began, began_wall = time.monotonic(), datetime.now(UTC)
    until = began + args.minutes * 60
    publics = [monitor_name(i) for i in range(args.monitors) if is_public(i)]
    floods = [
        Flood("reports", args.report_rate),
        Flood("badges", args.badge_rate),
        Flood("pages", args.page_rate),
    ]
    makers = [report_request(publics), badge_request(publics), page_request]
    samples: list[Sample] = []
    await asyncio.gather(
        sample_until(proc.pid, port, began, until, args.sample_every, samples),
        *(
            flood.run(port, random.Random(args.seed + n), make, until)
            for n, (flood, make) in enumerate(zip(floods, makers, strict=True))
            if flood.rate > 0
        ),
    )
    final = await take_sample(proc.pid, port, began, samples[-1] if samples else None, FINAL_WAIT)
    print()
    for flood in floods:
        print(flood.summary())
    return Run(samples, final, began_wall)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python3 -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the soak runs (10)")
    parser.add_argument("--monitors", type=int, default=1000, help="monitors, one target each (1000)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between checks of a monitor (30)")
    parser.add_argument("--seed", type=int, default=1, help="fixes when targets break and heal (1)")
    parser.add_argument(
        "--warm-up", type=float, help="seconds left out of the bounds (a fifth of the run, 2 min at most)"
    )
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples (5)")
    parser.add_argument("--report-rate", type=float, default=5.0, help="reports posted a second (5)")
    parser.add_argument("--badge-rate", type=float, default=5.0, help="badges asked for a second (5)")
    parser.add_argument("--page-rate", type=float, default=0.1, help="status pages, summaries, feeds a second (0.1)")
    parser.add_argument("--farm-port", type=int, default=18700, help="the targets' port (18700)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (config, database, log)")
    parser.add_argument("--farm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.warm_up is None:
        args.warm_up = min(120.0, args.minutes * 12)
    if args.interval < 2 * SLACK:
        parser.error(f"--interval must be at least {2 * SLACK:g} s, so a late check is told from a lost one")
    if not 1 <= args.monitors <= 250 * 250:
        parser.error("--monitors must be between 1 and 62500")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.farm:
        eventloop.run(serve_farm(args.monitors, args.farm_port, args.seed))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the farm and ronda get theirs
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    print(f"{args.monitors} monitors every {args.interval:g} s for {args.minutes:g} min, seed {args.seed}")
    folder = Path(tempfile.mkdtemp(prefix="ronda-soak-"))
    port = free_port()
    config = write_config(folder, args, port)
    log = folder / "ronda.log"
    with farm_process(args) as farm, ronda_process(config, log) as proc:
        run = eventloop.run(soak(args, proc, port, log))
        stop_s = stop_ronda(proc)
    print(f"farm: {farm.get('served')} requests served, {farm.get('notices')} notices received")
    print(f"      states entered: {farm.get('changes')}")
    start, end = run.began + timedelta(seconds=args.warm_up), run.began + timedelta(minutes=args.minutes)
    lost = lost_checks(folder / "ronda.db", start, end, args.interval, args.monitors)
    stored = stored_per_minute(folder / "ronda.db", run.began)
    print_minutes(run.samples, stored, args.interval, args.monitors)
    judgement = judge(run.samples, args.warm_up, lost, stop_s)
    print_summary(run, args.warm_up, lost, judgement)
    if args.keep:
        print(f"\nconfig, database and ronda's log kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    failures = judgement.failures()
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("PASS: every bound held")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
