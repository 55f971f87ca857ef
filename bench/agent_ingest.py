"""Probe agents at scale: what one hub ingests on PostgreSQL, and what an agent costs.

**Ingest** (`--agents 4,16,64`): for each K, a fresh database on a throwaway PostgreSQL
cluster (Debian's server, as the tests start it, pinned to CPU 0; PostgreSQL's own defaults,
fsync on, unless `--pg-fast` asks for the tests' careless settings) and `ronda run` on it,
pinned to CPU 1, with `--monitors` (10,000) `tcp://` monitors checked from `--regions` (4)
agents' regions `r0`, `r1`, ... and never from `local`, every hour: the hub checks nothing
itself. K agents are added through the API (`POST /api/v1/agents`, what `ronda agents add`
does), spread over the regions; each is simulated by this process (on CPU 0, beside
PostgreSQL): it asks its assignment as an agent does (`GET /api/v1/agent/assignment`, every
agent once, then again once the hub counts them all live, so that each holds its share of
its region; the shares are checked to cover each region once), asks again every 10 s as an
agent does, and POSTs batches of `--batch` (500) verdicts of its monitors, round and round
its share, gzip-compressed as `ronda agent` sends them, `--in-flight` (2) at a time, each as
soon as the one before is answered. The verdicts are those `ronda check --json` writes for a
`tcp://` target, checked now: `up`, and `down` (`tcp_refused`) for a different twentieth of
the monitors in each sweep over a share, so incidents open (two failing checks) and resolve
(the next sweep). The hub answers a batch once it has stored and judged it, so a POST's
latency is that batch's incident-evaluation lag. After `--warmup` (5 s), the window lasts
`--seconds` (30), longer (up to `--longest`, 100) until each sender had three answers in it:
the hub stores the batches that wait together in one transaction, so answers come in rounds,
and rates are taken from the window's first answer to its last. Measured: verdicts and
batches taken per second, lag p50 and p99, the hub's CPU (a share of one core; the service
and its probe worker) and its largest RSS, PostgreSQL's CPU (its server and every backend),
this driver's CPU, each core's busy share and what else the machine did. After each round the
results rows are counted against the verdicts the hub said it took, and the incidents opened
and resolved. With `--paced 0.5` a round more runs the most agents as `ronda agent` sends
(each one batch a second of what it checked, one at a time) at half the rate they reached:
the lag of a hub that keeps up.

**An agent's cost** (`--sizes 1,000,5,000`): a farm neither tool wrote, nginx from Debian
(`nginx-light`, installed with apt-get when missing), one worker on CPU 0 listening on
`--addresses` (20) loopback addresses 127.3.0.1, ... on one port; a hub on SQLite (CPU 0)
with N `tcp://` monitors on those addresses every `--interval` (10 s), region `a0`; and one
real `ronda agent` pinned to CPU 1. After its first verdicts and `--agent-warmup` (25 s),
over `--agent-seconds` (40): checks per second (the verdicts the hub stored), the agent's
CPU, CPU per check, checks per CPU-second, RSS and KiB per monitor beyond the smallest size.
The peer: Prometheus blackbox_exporter (`/usr/bin/prometheus-blackbox-exporter`, installed
when missing) pinned to CPU 1 with GOMAXPROCS=1, a `tcp_connect` module (IPv4, no fallback),
probed by IP literal at the same rate (N / interval a second, paced as a Prometheus server's
scrapes would be) over keep-alive connections by a client of this process on CPU 0.

Everything is on loopback (127.0.0.0/8) by IP literal: no name is ever resolved. Run as
root from the repository root (a default run takes about nine minutes):

    python3 -m bench.agent_ingest [--agents 4,16,64] [--monitors 10000] [--seconds 30] [--paced 0.5]
                                  [--sizes 1000,5000] [--only ingest|agent] [--pg-fast]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import psycopg

import tests.postgres
from bench.flood import free_port_range, http, read_whole, request_bytes, rss_mib
from bench.https_nginx import find_nginx, nginx_cpu
from bench.https_throughput import tree_cpu_seconds
from bench.probers import (
    BLACKBOX_BIN,
    BUSY_MACHINE,
    CLK_TCK,
    ExporterClient,
    blackbox_version,
    die_with_parent,
    exporter,
    find_blackbox,
    free_port,
    machine,
    proc_cpu_seconds,
    stop,
)
from bench.scale import postgres
from ronda import eventloop
from ronda.agent.hub import ASSIGNMENT, VERDICTS
from ronda.verdict import Finding, Verdict
from tests.postgres import Cluster

STORE_CPU = 0  # PostgreSQL, the simulated agents, nginx, the hub on SQLite, the exporter's client
HUB_CPU = 1  # the hub that ingests
PROBER_CPU = 1  # `ronda agent`, then blackbox_exporter
TOKEN = "agent-bench-token-0123456789"
ADMIN_PASSWORD = "agent-bench-admin-password"
ASK_EVERY = 10.0  # seconds between an agent's questions (the hub's default agents.ask_every)
LIVE_FOR = 2.5  # seconds the hub's list of live agents may be stale (agent_hub.LIVE_FOR, 2 s)
DOWN_EVERY = 20  # one monitor in 20 is failing at a time: 5 % of the verdicts
ANSWERS = 3  # answers each sender should have in an ingest window: two whole rounds of its own
PLACEHOLDER = "@@CHECKED_AT@@"
IDLE_CLOSE = 4.0  # seconds idle after which a connection to the hub is made anew (uvicorn closes it at 5)
FARM_NET = "127.3.0."


# -- processes ---------------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 on (the command name may contain spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def postgres_cpu(postmaster: int) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its live processes (backends,
    writers, autovacuum) and those that ended (the postmaster's reaped children's time)."""
    fields = stat_fields(postmaster)
    total = sum(int(value) for value in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime
    for child in children(postmaster):
        with contextlib.suppress(OSError):  # ended meanwhile: in cutime at the next look
            total += proc_cpu_seconds(child)
    return total


def pin(pid: int, cpu: int) -> None:
    """Pin a process and its present children to `cpu`; those it starts later inherit it."""
    for each in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(each, {cpu})


def cores_busy() -> list[float]:
    """Busy CPU seconds of each core (every process and the kernel; not idle, I/O wait or
    time stolen by the hypervisor), from /proc/stat."""
    busy = []
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            user, nice, system, _idle, _iowait, irq, softirq = (int(t) for t in line.split()[1:8])
            busy.append((user + nice + system + irq + softirq) / CLK_TCK)
    return busy


def taskset(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


# -- the hub -----------------------------------------------------------------------------------


def hub_config(port: int, storage: str, urls: list[str], regions: list[str], interval: str) -> str:
    lines = [
        f"server:\n  listen: 127.0.0.1:{port}\n  health_listen: 127.0.0.1:{port + 1}\n  token: {TOKEN}\n",
        f"storage: {storage}\ncanaries: []\ngateway: none\n",
        f"defaults:\n  interval: {interval}\n  timeout: 5s\n  regions: [{', '.join(regions)}]\n",
        "monitors:\n",
    ]
    lines += [f"  - {{name: m{i:06d}, url: '{url}'}}\n" for i, url in enumerate(urls)]
    return "".join(lines)


@contextlib.contextmanager
def hub(config: Path, port: int, cpu: int | None) -> Iterator[subprocess.Popen[bytes]]:
    """`ronda run` on `config` (pinned to `cpu`), once its API answers."""
    log = config.with_suffix(".log")
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [*taskset(cpu), sys.executable, "-m", "ronda", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL, stderr=err, preexec_fn=die_with_parent,
            env=os.environ | {"RONDA_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )  # fmt: skip
    try:
        give_up = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the hub exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > give_up:
                raise SystemExit(f"the hub's API did not answer within 180 s:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                if asyncio.run(http(port, "GET", "/api/v1/agents", headers=f"Authorization: Bearer {TOKEN}\r\n"))[0]:
                    break
            time.sleep(0.2)
        yield proc
    finally:
        stop(proc, 60)


def add_agent(port: int, name: str, region: str) -> str:
    """A new agent at the hub, through its API (what `ronda agents add` does): its token."""
    body = json.dumps({"name": name, "region": region}).encode()
    headers = f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    status, answer = asyncio.run(http(port, "POST", "/api/v1/agents", body, headers))
    if status != 201:
        raise SystemExit(f"adding the agent {name} answered {status}: {answer[:300]!r}")
    return str(json.loads(answer)["token"])


def log_troubles(log: Path) -> int:
    """Lines of the hub's log at ERROR or worse, or of a traceback."""
    text = log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if " ERROR " in line or "CRITICAL" in line or "Traceback" in line)


class Connection:
    """One keep-alive HTTP/1.1 connection to the hub (flood.py's small client: httpx would
    take the CPU PostgreSQL needs)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.used = 0.0

    async def request(self, method: str, path: str, body: bytes = b"", headers: str = "") -> tuple[int, bytes]:
        if self.streams is not None and time.monotonic() - self.used > IDLE_CLOSE:
            self.close()  # the hub may be closing it right now: a request sent then would be lost
        if self.streams is None:
            self.streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.streams
        try:
            writer.write(request_bytes(method, path, body, headers))
            status, head, answer = await read_whole(reader)
        except BaseException:
            self.close()
            raise
        self.used = time.monotonic()
        if b"\r\nconnection: close" in head.lower():
            self.close()
        return status, answer

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


# -- ingest: simulated agents ------------------------------------------------------------------


def target_of(i: int) -> tuple[str, str]:
    """The address and URL of monitor `i` of the ingest rounds (never checked by anyone)."""
    address = f"127.4.{i // 250}.{i % 250 + 1}"
    return address, f"tcp://{address}:9"


def fragments(monitors: int) -> list[tuple[str, str]]:
    """Each monitor's entry in a batch, up and down, as `ronda agent` sends it (the verdict as
    `ronda check --json` writes it), its time left to fill in."""
    now = datetime.now(UTC)
    made = []
    for i in range(monitors):
        address, url = target_of(i)
        refused = f"{address}:9 refused the connection: nothing is listening"
        up = Verdict(url, "up", None, f"{url} is up", now, 0.4, addresses=(address,))
        down = Verdict(
            url, "down", "tcp_refused", refused, now, 0.3, addresses=(address,),
            findings=(Finding("tcp_refused", refused, address, address, 9),),
        )  # fmt: skip
        made.append((entry(f"m{i:06d}", up), entry(f"m{i:06d}", down)))
    return made


def entry(name: str, verdict: Verdict) -> str:
    shape = verdict.to_json() | {"checked_at": PLACEHOLDER}
    return json.dumps({"monitor": name, "verdict": shape, "offline": False}, separators=(",", ":"))


def failing(monitor: int, sweep: int) -> bool:
    """Whether a monitor fails in an agent's `sweep` over its share: a twentieth of them, a
    different twentieth each sweep (so an incident opens, and resolves at the next sweep)."""
    return (monitor + sweep) % DOWN_EVERY == 0


@dataclass
class Simulated:
    """One agent as the hub sees it: its token, region and share; its batches are made here."""

    name: str
    region: str
    token: str
    monitors: list[int] = field(default_factory=list)  # indexes of its share
    version: str = ""
    cursor: int = 0
    sweeps: int = 0

    @property
    def auth(self) -> str:
        return f"Authorization: Bearer {self.token}\r\nX-Ronda-Version: bench\r\n"

    def batch(self, made: list[tuple[str, str]], size: int) -> bytes:
        """The next `size` of its monitors' verdicts (round and round its share), gzipped."""
        picked = []
        for _ in range(min(size, len(self.monitors))):
            i = self.monitors[self.cursor]
            picked.append(made[i][failing(i, self.sweeps)])
            self.cursor += 1
            if self.cursor == len(self.monitors):
                self.cursor, self.sweeps = 0, self.sweeps + 1
        checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = f'{{"batch":"{uuid.uuid4()}","verdicts":[{",".join(picked)}],"online":true}}'
        return gzip.compress(text.replace(PLACEHOLDER, checked_at).encode(), 6)  # as ronda/agent/hub.py


async def assign(agents: list[Simulated], port: int, monitors: int) -> None:
    """Every agent asks once (so the hub counts it live), then again once the hub's list of
    live agents is fresh: each then holds its share. The shares must cover each region's
    monitors once."""
    conn = Connection(port)
    for asking in range(2):
        for agent in agents:
            status, body = await conn.request("GET", ASSIGNMENT, headers=agent.auth)
            if status != 200:
                raise SystemExit(f"{agent.name}'s assignment answered {status}: {body[:300]!r}")
            answer = json.loads(body)
            agent.version = answer["version"]
            agent.monitors = [int(spec["name"][1:]) for spec in answer["monitors"]]
        if asking == 0:
            await asyncio.sleep(LIVE_FOR)
    conn.close()
    for region in sorted({agent.region for agent in agents}):
        held = [i for agent in agents if agent.region == region for i in agent.monitors]
        if sorted(held) != list(range(monitors)):
            raise SystemExit(f"region {region}: the agents' shares cover {len(set(held))} of {monitors} monitors")


@dataclass
class Posts:
    """What the senders saw; `end`: no batch starts after it (set once the window is long enough)."""

    end: float = math.inf
    done: list[tuple[int, float, float, int]] = field(default_factory=list)  # (sender, answered at, seconds, taken)
    answers: Counter[int] = field(default_factory=Counter)  # by sender, in the window
    troubles: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    reassigned: int = 0


@dataclass(frozen=True)
class Pace:
    """How a sender sends: `size` verdicts a batch; with `gap`, a batch every `gap` seconds from
    `first` (a batch's lag then counts from its due time, so one sent late counts its wait);
    without, each batch as soon as the one before is answered."""

    size: int
    first: float = 0.0
    gap: float | None = None


async def sender(
    me: int, agent: Simulated, port: int, made: list[tuple[str, str]], pace: Pace, t0: float, posts: Posts
) -> None:
    """One of an agent's batches in flight, one after another, until `posts.end`."""
    conn = Connection(port)
    headers = agent.auth + "Content-Encoding: gzip\r\nContent-Type: application/json\r\n"
    sent = 0
    while True:
        began = time.monotonic()
        if pace.gap is not None:
            due = pace.first + sent * pace.gap
            await asyncio.sleep(max(due - began, 0))
            began = due
        if began >= posts.end:
            break
        sent += 1
        try:
            status, answer = await conn.request("POST", VERDICTS, agent.batch(made, pace.size), headers)
        except (OSError, asyncio.IncompleteReadError) as exc:
            posts.troubles[type(exc).__name__] += 1
            await asyncio.sleep(0.1)
            continue
        ended = time.monotonic()
        if status != 200:
            posts.troubles[f"HTTP {status}: {answer[:120]!r}"] += 1
            continue
        reply = json.loads(answer)
        posts.done.append((me, ended, ended - began, int(reply["taken"])))
        posts.dropped += len(reply.get("dropped") or [])
        if ended >= t0:
            posts.answers[me] += 1
    conn.close()


async def asker(agents: list[Simulated], port: int, posts: Posts) -> None:
    """Each agent asks for its assignment every ASK_EVERY seconds, as `ronda agent` does."""
    conn = Connection(port)
    asked = time.monotonic()
    while time.monotonic() < posts.end:
        await asyncio.sleep(0.5)
        if time.monotonic() - asked < ASK_EVERY:
            continue
        asked = time.monotonic()
        for agent in agents:
            status, body = await conn.request("GET", f"{ASSIGNMENT}?version={agent.version}", headers=agent.auth)
            if status != 200 or not json.loads(body).get("unchanged"):
                posts.reassigned += 1
    conn.close()


@dataclass(frozen=True)
class Sample:
    at: float
    hub: float
    store: float
    driver: float
    cores: list[float]
    rss: float


def sample(hub_pid: int, postmaster: int) -> Sample:
    cpu = tree_cpu_seconds(hub_pid), postgres_cpu(postmaster), time.process_time()
    return Sample(time.monotonic(), *cpu, cores_busy(), rss_mib(hub_pid))


async def drive(
    agents: list[Simulated], port: int, args: argparse.Namespace, pids: tuple[int, int], rate: float | None
) -> tuple[Posts, list[Sample], float]:
    """The round: assignments, then batches through the warm-up and the window, which lasts
    `--seconds`, and longer until every sender had ANSWERS answers in it (the hub stores the
    batches that wait together, in one transaction: their answers come at once, a round of
    them as long as that transaction, and rates are taken over each sender's whole rounds);
    past `--longest`, two answers each will do. The posts, the samples every half second
    over the window, and its start."""
    await assign(agents, port, args.monitors)
    made = fragments(args.monitors)
    posts = Posts()
    start = time.monotonic()
    t0 = start + args.warmup
    paces: list[Pace] = []
    for a in range(len(agents)):
        if rate is None:  # as fast as the hub takes them, `--in-flight` at a time
            paces += [Pace(args.batch)] * args.in_flight
        else:  # as `ronda agent` sends: what it has, each second; the agents spread over the second
            paces.append(Pace(max(round(rate / len(agents)), 1), start + a / len(agents), 1.0))
    senders = [
        sender(s, agents[s // (len(paces) // len(agents))], port, made, pace, t0, posts) for s, pace in enumerate(paces)
    ]
    running = [asyncio.create_task(task) for task in [*senders, asker(agents, port, posts)]]
    await asyncio.sleep(t0 - time.monotonic())
    samples = []
    while True:
        samples.append(sample(*pids))
        now = time.monotonic()
        fewest = min(posts.answers.values()) if len(posts.answers) == len(paces) else 0
        if (now >= t0 + args.seconds and fewest >= ANSWERS) or (now >= t0 + args.longest and fewest >= 2):
            break
        if now >= t0 + 2 * args.longest:
            print(f"  the window ends after {2 * args.longest:g} s, a sender with {fewest} answers", flush=True)
            break
        await asyncio.sleep(0.5)
    posts.end = samples[-1].at
    await asyncio.gather(*running)
    return posts, samples, t0


def rates(window: list[tuple[int, float, float, int]]) -> tuple[float, float]:
    """Verdicts and batches taken a second: each sender's, from its first answer in the window
    to its last (whole rounds of its own, however bursty the answers), summed."""
    mine: dict[int, list[tuple[float, int]]] = {}
    for me, ended, _, taken in sorted(window, key=lambda answer: answer[1]):
        mine.setdefault(me, []).append((ended, taken))
    verdicts = batches = 0.0
    for answers in mine.values():
        if len(answers) < 2:
            continue  # a sender answered once in the window: no whole round (said by drive)
        span = answers[-1][0] - answers[0][0]
        verdicts += sum(taken for _, taken in answers[1:]) / span
        batches += (len(answers) - 1) / span
    return verdicts, batches


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)] if ordered else float("nan")


@dataclass
class Ingest:
    label: str
    agents: int
    batch: int  # verdicts a batch
    window: float  # seconds
    verdicts_s: float
    batches_s: float
    p50: float
    p99: float
    hub_cpu: float
    hub_rss: float
    store_cpu: float
    driver_cpu: float
    cores: list[float]
    other: float  # the rest of the machine: the kernel, anything else running
    taken: int  # the whole round's, warm-up included
    rows: int  # results rows after the round
    incidents: int
    resolved: int
    troubles: int  # failed POSTs, dropped verdicts, changed assignments, error lines in the hub's log


def ingest_round(k: int, args: argparse.Namespace, cluster: Cluster, folder: Path, rate: float | None = None) -> Ingest:
    """One round of `k` simulated agents against a fresh hub on a fresh database."""
    url = cluster.url(cluster.new_database())
    port = free_port_range(2)
    regions = [f"r{i}" for i in range(args.regions)]
    config = folder / f"hub-{k}{'-paced' if rate else ''}.yaml"
    config.write_text(hub_config(port, url, [target_of(i)[1] for i in range(args.monitors)], regions, "1h"))
    assert cluster.proc is not None
    with hub(config, port, HUB_CPU) as proc:
        agents = [Simulated(f"agent-{i:02d}", regions[i % len(regions)], "") for i in range(k)]
        for agent in agents:
            agent.token = add_agent(port, agent.name, agent.region)
        posts, samples, t0 = eventloop.run(drive(agents, port, args, (proc.pid, cluster.proc.pid), rate))
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT count(*) FROM results").fetchone()
        incidents = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'resolved') FROM incidents"
        ).fetchone()
    assert rows is not None and incidents is not None
    window = [(me, ended, seconds, taken) for me, ended, seconds, taken in posts.done if t0 <= ended <= posts.end]
    verdicts_s, batches_s = rates(window)
    first, last = samples[0], samples[-1]
    cpu_wall = last.at - first.at
    cores = [(b - a) / cpu_wall for a, b in zip(first.cores, last.cores, strict=True)]
    ours = last.hub - first.hub + last.store - first.store + last.driver - first.driver
    troubles = posts.dropped + posts.reassigned + log_troubles(config.with_suffix(".log"))
    if posts.troubles:
        print(f"  failed POSTs: {dict(posts.troubles)}", flush=True)
    if posts.dropped or posts.reassigned:
        print(f"  dropped verdicts: {posts.dropped}; assignments changed: {posts.reassigned}", flush=True)
    taken = sum(taken for _, _, _, taken in posts.done)
    if rows[0] != taken:
        print(f"  the hub said it took {taken:,} verdicts; {rows[0]:,} are stored", flush=True)
    lags = [seconds for _, _, seconds, _ in window]
    return Ingest(
        f"{k} paced" if rate else str(k),
        k,
        max(round(rate / k), 1) if rate else args.batch,
        cpu_wall,
        verdicts_s,
        batches_s,
        quantile(lags, 0.5),
        quantile(lags, 0.99),
        (last.hub - first.hub) / cpu_wall,
        max(s.rss for s in samples),
        (last.store - first.store) / cpu_wall,
        (last.driver - first.driver) / cpu_wall,
        cores,
        max(sum(cores) - ours / cpu_wall, 0.0),
        taken,
        int(rows[0]),
        int(incidents[0]),
        int(incidents[1]),
        troubles + sum(posts.troubles.values()),
    )


def print_ingest(rows: list[Ingest], header: bool = True) -> None:
    if header:
        print(
            f"{'agents':>9}{'batch':>6}{'window':>7}{'verdicts/s':>11}{'batches/s':>10}{'lag p50':>9}{'lag p99':>9}"
            f"{'hub CPU':>8}{'hub RSS MiB':>12}{'PG CPU':>7}{'driver':>7}{'other':>6}{'core 0':>7}{'core 1':>7}"
            f"{'incidents':>10}{'resolved':>9}{'troubles':>9}"
        )
    for r in rows:
        cores = (r.cores + [float("nan")] * 2)[:2]
        print(
            f"{r.label:>9}{r.batch:>6}{r.window:>6.0f}s{r.verdicts_s:>11,.0f}{r.batches_s:>10.1f}{r.p50:>8.3f}s"
            f"{r.p99:>8.3f}s{r.hub_cpu:>8.0%}{r.hub_rss:>12.0f}{r.store_cpu:>7.0%}{r.driver_cpu:>7.0%}{r.other:>6.0%}"
            f"{cores[0]:>7.0%}{cores[1]:>7.0%}{r.incidents:>10,}{r.resolved:>9,}{r.troubles:>9}",
            flush=True,
        )
    busy(max(r.other for r in rows))


def busy(other: float) -> None:
    """Say so when other work took the machine: wall rates are then pessimistic."""
    if other > BUSY_MACHINE:
        print(f"warning: other work took {other:.0%} of a core; rates are pessimistic, rerun when quiet", flush=True)


def run_ingest(args: argparse.Namespace, folder: Path) -> list[Ingest]:
    durable = "PostgreSQL's defaults, fsync on" if not args.pg_fast else "the tests' settings, fsync off"
    print(
        f"\ningest: {args.monitors:,} monitors in {args.regions} regions, batches of {args.batch}, "
        f"{args.in_flight} in flight per agent, {args.seconds:g}-{args.longest:g} s after {args.warmup:g} s; "
        f"the hub on CPU {HUB_CPU}, PostgreSQL ({durable}) and the simulated agents on CPU {STORE_CPU}",
        flush=True,
    )
    rows: list[Ingest] = []
    speed = tests.postgres.SPEED if args.pg_fast else ()
    with mock.patch.object(tests.postgres, "SPEED", speed), postgres(folder) as cluster:
        assert cluster.proc is not None
        pin(cluster.proc.pid, STORE_CPU)
        for k in (int(n) for n in args.agents.split(",")):
            rows.append(ingest_round(k, args, cluster, folder))
            print_ingest(rows[-1:], header=len(rows) == 1)
        if args.paced > 0 and rows:
            top = rows[-1]
            rows.append(ingest_round(top.agents, args, cluster, folder, rate=args.paced * top.verdicts_s))
            print_ingest(rows[-1:], header=False)
    return rows


# -- an agent's cost: the farm, `ronda agent`, blackbox_exporter -------------------------------


@contextlib.contextmanager
def nginx_farm(folder: Path, addresses: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """nginx (one worker, CPU 0) listening on 127.3.0.1 ... on `port`: it accepts and closes."""
    binary = find_nginx()
    prefix = folder / "nginx"
    prefix.mkdir()
    listens = "".join(f"    listen {FARM_NET}{i + 1}:{port};\n" for i in range(addresses))
    config = prefix / "nginx.conf"
    config.write_text(
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\n  access_log off;\n  keepalive_timeout 0;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n"
        f'  server {{\n{listens}    location / {{ return 200 "ok\\n"; }}\n  }}\n}}\n'
    )
    command = [*taskset(STORE_CPU), binary, "-p", str(prefix), "-e", f"{prefix}/error.log", "-c", str(config)]
    proc = subprocess.Popen([*command, "-g", "daemon off;"], stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        give_up = time.monotonic() + 20
        for address in (f"{FARM_NET}1", f"{FARM_NET}{addresses}"):
            while True:
                if proc.poll() is not None or time.monotonic() > give_up:
                    raise SystemExit(f"nginx did not start: {(prefix / 'error.log').read_text()[-2000:]}")
                with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1):
                    break
                time.sleep(0.05)
        yield proc
    finally:
        stop(proc, 10)


def farm_url(i: int, args: argparse.Namespace) -> str:
    return f"tcp://{FARM_NET}{i % args.addresses + 1}:{args.farm_port}"


@dataclass(frozen=True)
class Cost:
    tool: str
    monitors: int
    checks_s: float
    due_s: float
    cpu: float  # share of one core
    rss_mib: float
    farm_cpu: float  # nginx's share of a core
    beside_cpu: float  # the hub's (for the agent) or our client's (for the exporter)
    other: float  # the rest of the machine's busy time
    failed: int  # checks not `up` (probe_success 0) in the window

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.checks_s

    @property
    def per_cpu_s(self) -> float:
        return self.checks_s / self.cpu


def result_mark(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return int(connection.execute("SELECT coalesce(max(id), 0) FROM results").fetchone()[0])


def agent_round(n: int, args: argparse.Namespace, folder: Path, nginx: int) -> Cost:
    """`ronda agent` checking `n` monitors for a hub on SQLite."""
    port = free_port_range(2)
    db = folder / f"agent-hub-{n}.db"
    config = folder / f"agent-hub-{n}.yaml"
    interval = f"{args.interval:g}s"
    config.write_text(hub_config(port, f"sqlite:///{db}", [farm_url(i, args) for i in range(n)], ["a0"], interval))
    with hub(config, port, None) as hub_proc:
        token = add_agent(port, "probe-0", "a0")
        data = folder / f"agent-{n}"
        command = ["ronda", "agent", "--hub", f"http://127.0.0.1:{port}", "--data", str(data)]
        with open(folder / f"agent-{n}.log", "wb") as log:
            agent = subprocess.Popen(
                [*taskset(PROBER_CPU), sys.executable, "-m", *command], stdout=subprocess.DEVNULL, stderr=log,
                env=os.environ | {"RONDA_AGENT_TOKEN": token}, preexec_fn=die_with_parent,
            )  # fmt: skip
        try:
            give_up = time.monotonic() + 60
            while result_mark(db) == 0:
                if agent.poll() is not None or time.monotonic() > give_up:
                    raise SystemExit(f"no verdict from the agent:\n{(folder / f'agent-{n}.log').read_text()[-2000:]}")
                time.sleep(0.2)
            time.sleep(args.agent_warmup)
            mark0, began = result_mark(db), time.monotonic()
            cpu0, hub0, farm0 = proc_cpu_seconds(agent.pid), tree_cpu_seconds(hub_proc.pid), nginx_cpu(nginx)
            machine0 = sum(cores_busy()) - time.process_time()
            time.sleep(args.agent_seconds)
            mark1, wall = result_mark(db), time.monotonic() - began
            cpu1, hub1, farm1 = proc_cpu_seconds(agent.pid), tree_cpu_seconds(hub_proc.pid), nginx_cpu(nginx)
            machine1 = sum(cores_busy()) - time.process_time()
            rss = rss_mib(agent.pid)
        finally:
            stop(agent, 30)
    troubles = log_troubles(folder / f"agent-{n}.log") + log_troubles(config.with_suffix(".log"))
    if troubles:
        print(f"  {troubles} lines of errors in the logs of the agent and its hub", flush=True)
    with contextlib.closing(sqlite3.connect(db)) as connection:
        query = "SELECT count(*) FROM results WHERE id > ? AND id <= ? AND status != 'up'"
        failed = int(connection.execute(query, (mark0, mark1)).fetchone()[0])
    return Cost(
        "ronda agent",
        n,
        (mark1 - mark0) / wall,
        n / args.interval,
        (cpu1 - cpu0) / wall,
        rss,
        (farm1 - farm0) / wall,
        (hub1 - hub0) / wall,
        max((machine1 - machine0 - (cpu1 - cpu0) - (farm1 - farm0) - (hub1 - hub0)) / wall, 0.0),
        failed,
    )


def exporter_config(folder: Path) -> Path:
    """The exporter's best case for these checks: IPv4 only, no fallback, no query."""
    path = folder / "blackbox-tcp.yml"
    path.write_text(
        "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 5s\n"
        "    tcp:\n      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
    )
    return path


async def probe_paced(
    port: int, targets: list[str], rate: float, args: argparse.Namespace, exporter_pid: int, nginx: int
) -> tuple[int, int, float, float, float, float, float]:
    """Probes at `rate` a second round the targets (as Prometheus scrapes them, spread over
    the interval) over CLIENTS keep-alive connections, through the warm-up and the window:
    the probes answered in the window, those failed, its length, and the CPU shares of the
    exporter, the farm, this client and the rest of the machine over it."""
    clients = 64
    start = time.monotonic() + 0.5
    t0 = start + args.exporter_warmup
    t1 = t0 + args.agent_seconds
    answered: list[float] = []
    failed = 0

    async def worker(w: int) -> None:
        nonlocal failed
        client = ExporterClient(port)
        k = w
        while (due := start + k / rate) < t1:
            await asyncio.sleep(max(due - time.monotonic(), 0))
            target = targets[k % len(targets)].removeprefix("tcp://")
            status, body = await client.get(f"/probe?module=tcp_connect&target={target}")
            if time.monotonic() >= t0:
                answered.append(time.monotonic())
                failed += status != 200 or b"\nprobe_success 1\n" not in body
            k += clients
        client.close()

    running = [asyncio.create_task(worker(w)) for w in range(clients)]
    await asyncio.sleep(t0 - time.monotonic())
    began = time.monotonic()
    cpu0, farm0, own0, machine0 = proc_cpu_seconds(exporter_pid), nginx_cpu(nginx), time.process_time(), cores_busy()
    await asyncio.sleep(t1 - time.monotonic())
    wall = time.monotonic() - began
    cpu1, farm1, own1, machine1 = proc_cpu_seconds(exporter_pid), nginx_cpu(nginx), time.process_time(), cores_busy()
    await asyncio.gather(*running)
    done = sum(1 for at in answered if at <= began + wall)
    cpu, farm, own = (cpu1 - cpu0) / wall, (farm1 - farm0) / wall, (own1 - own0) / wall
    return done, failed, wall, cpu, farm, own, max((sum(machine1) - sum(machine0)) / wall - cpu - farm - own, 0.0)


def exporter_round(n: int, args: argparse.Namespace, folder: Path, binary: str, nginx: int) -> Cost:
    port = free_port()
    config = exporter_config(folder)
    with exporter(binary, config, port, folder / f"blackbox-{n}.log", cpu=PROBER_CPU) as proc:
        targets = [farm_url(i, args) for i in range(n)]
        done, failed, wall, cpu, farm, own, other = eventloop.run(
            probe_paced(port, targets, n / args.interval, args, proc.pid, nginx)
        )
        rss = rss_mib(proc.pid)
    return Cost("blackbox", n, done / wall, n / args.interval, cpu, rss, farm, own, other, failed)


def print_costs(costs: list[Cost], header: bool = True) -> None:
    if header:
        print(
            f"{'tool':<13}{'monitors':>9}{'checks/s':>9}{'due/s':>7}{'CPU %':>7}{'CPU ms/check':>13}"
            f"{'checks/CPU-s':>13}{'RSS MiB':>8}{'KiB/mon':>8}{'farm %':>7}{'beside %':>9}{'other %':>8}{'failed':>7}"
        )
    for c in costs:
        print(
            f"{c.tool:<13}{c.monitors:>9,}{c.checks_s:>9.1f}{c.due_s:>7.0f}{c.cpu:>7.1%}{c.cpu_ms:>13.3f}"
            f"{c.per_cpu_s:>13,.0f}{c.rss_mib:>8.1f}{kib_per_monitor(c, costs):>8.2f}{c.farm_cpu:>7.1%}"
            f"{c.beside_cpu:>9.1%}{c.other:>8.1%}{c.failed:>7}",
            flush=True,
        )
    busy(max(c.other for c in costs))


def kib_per_monitor(cost: Cost, among: list[Cost]) -> float:
    """Resident memory per monitor beyond the same tool's smallest size."""
    base = min((c for c in among if c.tool == cost.tool), key=lambda c: c.monitors)
    if base.monitors == cost.monitors:
        return float("nan")
    return (cost.rss_mib - base.rss_mib) * 1024 / (cost.monitors - base.monitors)


def run_agent_cost(args: argparse.Namespace, folder: Path) -> list[Cost]:
    binary = find_blackbox(BLACKBOX_BIN)
    print(
        f"\nan agent's cost: tcp:// monitors every {args.interval:g} s on nginx ({args.addresses} loopback "
        f"addresses, one worker, CPU {STORE_CPU}); ronda agent, then blackbox_exporter "
        f"({blackbox_version(binary) if binary else 'missing'}, GOMAXPROCS=1), on CPU {PROBER_CPU}; "
        f"{args.agent_seconds:g} s each after a warm-up",
        flush=True,
    )
    costs: list[Cost] = []
    with nginx_farm(folder, args.addresses, args.farm_port) as farm:
        for n in (int(size) for size in args.sizes.split(",")):
            costs.append(agent_round(n, args, folder, farm.pid))
            print_costs(costs[-1:], header=len(costs) == 1)
            if binary:
                costs.append(exporter_round(n, args, folder, binary, farm.pid))
                print_costs(costs[-1:], header=False)
    print("(beside %: the hub storing the agent's verdicts, on CPU 0; or our client driving the exporter)")
    return costs


def print_ratios(costs: list[Cost]) -> None:
    for n in sorted({c.monitors for c in costs}):
        ours = next((c for c in costs if c.monitors == n and c.tool == "ronda agent"), None)
        theirs = next((c for c in costs if c.monitors == n and c.tool == "blackbox"), None)
        if ours and theirs:
            print(
                f"{n:,} monitors: ronda agent / blackbox_exporter, checks per CPU-second {ours.per_cpu_s:,.0f} / "
                f"{theirs.per_cpu_s:,.0f} = {ours.per_cpu_s / theirs.per_cpu_s:.2f}; "
                f"RSS {ours.rss_mib:.0f} / {theirs.rss_mib:.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["ingest", "agent"], help="one part only")
    parser.add_argument("--agents", default="4,16,64", help="simulated agents, a round each")
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--regions", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="verdicts in a batch (ronda agent's BATCH_LIMIT)")
    parser.add_argument("--in-flight", type=int, default=2, help="batches each simulated agent has in flight")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of an ingest round")
    parser.add_argument("--longest", type=float, default=120.0, help="the window waits for answers up to this long")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--paced", type=float, default=0.5, help="a round more at this share of the top rate (0: none)")
    parser.add_argument("--pg-fast", action="store_true", help="PostgreSQL as the tests run it: fsync off")
    parser.add_argument("--sizes", default="1000,5000", help="monitors of the agent's cost rounds")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--addresses", type=int, default=20, help="loopback addresses nginx listens on")
    parser.add_argument("--farm-port", type=int, default=0, help="nginx's port (0: a free one)")
    parser.add_argument("--agent-warmup", type=float, default=20.0)
    parser.add_argument("--exporter-warmup", type=float, default=5.0)
    parser.add_argument("--agent-seconds", type=float, default=30.0)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: PostgreSQL runs as its own user, nginx may need installing")
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("two CPUs are needed (0 and 1)")
    args.farm_port = args.farm_port or free_port_range(1)
    os.sched_setaffinity(0, {STORE_CPU})  # this process and all it starts, unless pinned elsewhere
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    ingest: list[Ingest] = []
    costs: list[Cost] = []
    with tempfile.TemporaryDirectory(prefix="ronda-agents-") as tmp:
        folder = Path(tmp)
        if args.only != "agent":
            ingest = run_ingest(args, folder)
        if args.only != "ingest":
            costs = run_agent_cost(args, folder)
    print(f"\nsummary ({machine()}; load average at the end {os.getloadavg()[0]:.2f})")
    if ingest:
        print_ingest(ingest)
        print(
            "(CPU: share of one core over the window; driver: the simulated agents; core 0: PostgreSQL and the "
            "driver, core 1: the hub; lag: a POST's answer, "
            "after its verdicts are stored and judged)"
        )
        best = max(ingest, key=lambda r: r.verdicts_s)
        print(f"most taken: {best.verdicts_s:,.0f} verdicts/s with {best.label} agents")
    if costs:
        print()
        print_costs(costs)
        print_ratios(costs)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    main()
