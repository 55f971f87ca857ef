"""HTTPS checks per second, ronda against Prometheus blackbox_exporter, in one run.

A farm of loopback HTTPS servers (127.0.0.10, .11, ...), each with its own certificate
whose SAN is its IP, runs in a separate process. Both tools then check it the same way:
a fixed number of checks, round-robin over the farm, with bounded concurrency, a fresh
TCP connection and a full TLS handshake verified against the farm's CA per check, and
status 200 expected. The tools take turns for a few rounds; we report wall-clock
checks/s and the CPU time the checker itself spent per check (ronda's process; the
exporter's process, read from /proc), with medians and the ratios between the tools.

Run from the repository root:

    python3 -m bench.https_throughput [--servers 32] [--checks 2000] [--concurrency 16] [--rounds 3]

The wall rate depends on everything else the machine runs: the farm (Python, ronda's
own test servers) and any other work are printed beside each round, so a busy machine
shows. CPU per check is the figure that depends on them least.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import platform
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

import h11

from ronda import eventloop

if TYPE_CHECKING:
    from ronda.world.web import WebServer

ROOT = Path(__file__).resolve().parent.parent
FIRST_HOST = 10  # the farm lives on 127.0.0.10 and up, clear of 127.0.0.1 and friends
BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
BLACKBOX_PACKAGE = "prometheus-blackbox-exporter"
FARM_LIFETIME = 600.0  # the farm stops by itself even if its parent vanished without closing stdin
PHASE_LIMIT = 90.0  # seconds one tool may take for its checks before the run is abandoned
CLK_TCK = os.sysconf("SC_CLK_TCK")
BUSY_MACHINE = 0.3  # cores of "other" CPU use beyond which a round's wall rate is suspect
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


# ---------------------------------------------------------------------------- the farm


def farm_hosts(count: int) -> list[str]:
    if not 1 <= count <= 255 - FIRST_HOST:
        raise SystemExit(f"--servers must be between 1 and {255 - FIRST_HOST}")
    return [f"127.0.0.{FIRST_HOST + i}" for i in range(count)]


def farm_urls(count: int, port: int) -> list[str]:
    return [f"https://{host}:{port}/" for host in farm_hosts(count)]


async def serve_farm(count: int, port: int, ca_path: str) -> None:
    """Start the servers, say `ready` on stdout, and serve until stdin closes."""
    # Imported here: only the farm process needs the test world.
    from ronda.world.pki import LocalPKI
    from ronda.world.web import WebServer

    pki = LocalPKI()
    pki.write_ca(ca_path)
    await serve_until_released([WebServer(host, port, tls=pki.server_context(host)) for host in farm_hosts(count)])


async def serve_until_released(servers: list[WebServer]) -> None:
    """The life of a farm process: start the servers, say `ready` on stdout, serve until
    stdin closes (or FARM_LIFETIME passes), stop, and say how many requests were answered."""
    for server in servers:
        await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watch_parent(lambda: loop.call_soon_threadsafe(stop.set))
    print("ready", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), FARM_LIFETIME)
    for server in servers:
        await server.stop()
    print(f"served {sum(s.requests for s in servers)} requests", flush=True)


def watch_parent(on_gone: Callable[[], object]) -> None:
    """Call `on_gone` when stdin reaches EOF: the parent closed it, or died."""

    def wait() -> None:
        sys.stdin.buffer.read()
        on_gone()

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()


@dataclass
class Farm:
    pid: int
    served: int | None = None  # HTTP requests answered, known once the farm has stopped


@contextlib.contextmanager
def farm_process(count: int, port: int, ca_path: str) -> Iterator[Farm]:
    """The farm in its own process, so the checker's CPU is measured alone."""
    arguments = ["--servers", str(count), "--port", str(port), "--ca-out", ca_path]
    with module_farm("bench.https_throughput", arguments) as farm:
        yield farm


@contextlib.contextmanager
def module_farm(module: str, arguments: list[str]) -> Iterator[Farm]:
    """`python -m MODULE --farm ARGUMENTS` as a child process that serves until we leave
    the block; the module's farm calls `serve_until_released`."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", module, "--farm", *arguments]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=die_with_parent
    )
    try:
        wait_for_line(proc, b"ready", timeout=60)
        farm = Farm(proc.pid)
        yield farm
    finally:
        served = stop_farm(proc)
    farm.served = served


def die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM when the benchmark dies,
    even by SIGKILL, so no farm or exporter outlives an interrupted run."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_for_line(proc: subprocess.Popen[bytes], expected: bytes, timeout: float) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else b""
    if line != expected:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        raise SystemExit(
            f"the farm did not start (exit code {proc.poll()}); if its port is taken, choose another with --port"
        )


def stop_farm(proc: subprocess.Popen[bytes]) -> int | None:
    """Stop the farm; how many requests it answered."""
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(OSError):
        proc.stdin.close()  # the farm's cue to stop
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    said = proc.stdout.read().decode(errors="replace").split()
    return int(said[1]) if said[:1] == ["served"] else None


# ---------------------------------------------------------------------------- measuring


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def with_children(pid: int) -> list[int]:
    """A process and those it started: `ronda run` and its probe worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time of a process and its children (`with_children`), together."""
    return sum(proc_cpu_seconds(each) for each in with_children(pid))


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, every process and the kernel)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / CLK_TCK


@dataclass(frozen=True)
class Snapshot:
    wall: float
    checker: float  # CPU seconds of the process doing the checks
    farm: float
    own: float  # this process: ronda itself, or the client driving the exporter
    machine: float


def snapshot(checker_pid: int, farm_pid: int) -> Snapshot:
    own = time.process_time()  # finer than /proc's 10 ms ticks, so used when ronda is the checker
    checker = own if checker_pid == os.getpid() else proc_cpu_seconds(checker_pid)
    return Snapshot(time.perf_counter(), checker, proc_cpu_seconds(farm_pid), own, machine_busy_seconds())


@dataclass(frozen=True)
class Result:
    tool: str
    round_no: int
    checks: int
    wall: float  # seconds
    cpu: float  # CPU seconds of the checker: ronda's process, or the exporter's
    farm_cpu: float  # CPU seconds of the farm over the same interval
    other_cpu: float  # CPU seconds of everything else on the machine, kernel included
    driver_cpu: float | None = None  # our client driving the exporter, not counted in `cpu`

    @property
    def rate(self) -> float:
        return self.checks / self.wall

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.checks


def result(tool: str, round_no: int, checks: int, before: Snapshot, after: Snapshot) -> Result:
    checker_is_self = tool == "ronda"
    cpu, farm, own = after.checker - before.checker, after.farm - before.farm, after.own - before.own
    ours = cpu + farm + (0.0 if checker_is_self else own)
    # Loopback TCP work done in softirq context is charged to no process, so `other`
    # includes some of our own networking; a large value means the machine was not quiet.
    other = max(after.machine - before.machine - ours, 0.0)
    driver = None if checker_is_self else own
    return Result(tool, round_no, checks, after.wall - before.wall, cpu, farm, other, driver)


async def run_pool(count: int, concurrency: int, job: Callable[[int], Awaitable[None]]) -> None:
    """Run job(0) .. job(count - 1), at most `concurrency` at a time. A fixed set of
    workers pulling indexes costs less than `count` tasks behind a semaphore, and it is
    the same driver for both tools."""
    indexes = iter(range(count))

    async def worker() -> None:
        for i in indexes:
            await job(i)

    try:
        async with asyncio.timeout(PHASE_LIMIT):
            await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    except TimeoutError:
        raise SystemExit(f"{count} checks did not finish within {PHASE_LIMIT:g}s: something is stuck") from None


# ---------------------------------------------------------------------------- ronda


@dataclass(frozen=True)
class Plan:
    """What both tools are asked to do in one round."""

    urls: list[str]
    ca_path: str
    checks: int
    concurrency: int
    farm_pid: int


async def bench_ronda(plan: Plan, round_no: int) -> Result:
    from ronda.check import run_check
    from ronda.probes.base import ProbeContext
    from ronda.target import CheckOptions, Expectations, parse_target

    targets = [parse_target(url) for url in plan.urls]
    options = CheckOptions(timeout=10, ca_file=plan.ca_path, expect=Expectations(status=200))
    ctx = ProbeContext()  # one for all checks: it caches the verifying SSL context
    failures: list[str] = []

    async def check(i: int) -> None:
        verdict = await run_check(targets[i % len(targets)], options, ctx)
        if verdict.status != "up":
            failures.append(f"{verdict.target}: {verdict.status} {verdict.cause}: {verdict.summary}")

    # A warm-up pass loads the CA into the context and imports lazily imported code.
    await run_pool(len(targets), plan.concurrency, check)
    require_success("ronda", failures)
    before = snapshot(os.getpid(), plan.farm_pid)
    await run_pool(plan.checks, plan.concurrency, check)
    after = snapshot(os.getpid(), plan.farm_pid)
    require_success("ronda", failures)
    return result("ronda", round_no, plan.checks, before, after)


def require_success(tool: str, failures: list[str]) -> None:
    """A benchmark of failures is meaningless: stop and say why the checks failed."""
    if failures:
        shown = "\n  ".join(failures[:10])
        raise SystemExit(f"{tool}: {len(failures)} checks did not succeed, for example:\n  {shown}")


# ---------------------------------------------------------------------------- blackbox_exporter


def find_blackbox(path: str) -> str | None:
    """The exporter's binary, installed from Debian if missing; None (with a message) if
    it cannot be had."""
    found = path if Path(path).is_file() else shutil.which(path)
    if found:
        return found
    if path != BLACKBOX_BIN:  # a binary the user named: installing the package would not bring it
        print(f"blackbox_exporter skipped: {path} not found")
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(f"blackbox_exporter skipped: {path} is missing and apt-get cannot be run as root here")
        return None
    print(f"installing {BLACKBOX_PACKAGE} with apt-get ...", flush=True)
    if not apt_install() and not (apt(["update"]) and apt_install()):
        print(f"blackbox_exporter skipped: apt-get could not install {BLACKBOX_PACKAGE}")
        return None
    if not Path(path).is_file():
        print(f"blackbox_exporter skipped: {BLACKBOX_PACKAGE} is installed but {path} is not there")
        return None
    return path


def apt_install() -> bool:
    return apt(["install", "-y", BLACKBOX_PACKAGE])


def apt(arguments: list[str]) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        done = subprocess.run(["apt-get", "-qq", *arguments], env=env, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def blackbox_version(path: str) -> str:
    done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    first = (done.stdout or done.stderr).splitlines()[:1]
    return first[0] if first else "unknown version"


def write_blackbox_config(directory: str, ca_path: str) -> str:
    path = os.path.join(directory, "blackbox.yml")
    Path(path).write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        "    timeout: 10s\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
        "      valid_status_codes: [200]\n"
        "      tls_config:\n"
        f"        ca_file: {ca_path}\n"
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def exporter_process(binary: str, config: str, port: int, log_path: str) -> Iterator[subprocess.Popen[bytes]]:
    command = [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
        )
    try:
        wait_listening(proc, port, log_path, timeout=15)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_listening(proc: subprocess.Popen[bytes], port: int, log_path: str, timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if proc.poll() is not None:
            raise SystemExit(f"blackbox_exporter exited with {proc.returncode}:\n{Path(log_path).read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise SystemExit(f"blackbox_exporter did not listen on 127.0.0.1:{port} within {timeout:g}s")


class ExporterClient:
    """One keep-alive HTTP/1.1 connection to the exporter, spoken through h11: cheap, so
    the driver takes as little as possible of the CPU the exporter and the farm need."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def get(self, path: str) -> tuple[int, bytes]:
        if self._streams is None or self._conn.our_state is not h11.IDLE:
            await self._reconnect()
        assert self._streams is not None
        reader, writer = self._streams
        request = h11.Request(method="GET", target=path, headers=[("Host", f"127.0.0.1:{self._port}")])
        writer.write(self._conn.send(request) + self._conn.send(h11.EndOfMessage()))
        status, body = await self._read(reader)
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        return status, body

    async def _read(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        status, body = 0, bytearray()
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                self._conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, bytes(body)

    async def _reconnect(self) -> None:
        self.close()
        self._streams = await asyncio.open_connection("127.0.0.1", self._port)
        self._conn = h11.Connection(h11.CLIENT)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def probe_path(url: str, debug: bool = False) -> str:
    return f"/probe?module=http_2xx&target={url}" + ("&debug=true" if debug else "")


class ExporterPool:
    """`size` connections to the exporter, one per probe in flight; probes that did not
    succeed are collected for `require_success`."""

    def __init__(self, port: int, size: int) -> None:
        self._clients = [ExporterClient(port) for _ in range(size)]
        self._free = list(self._clients)  # a probe borrows a client and gives it back
        self.failures: list[str] = []

    async def probe(self, url: str) -> None:
        client = self._free.pop()
        try:
            status, body = await client.get(probe_path(url))
        finally:
            self._free.append(client)
        if status != 200 or b"\nprobe_success 1\n" not in body:
            self.failures.append(f"{url}: HTTP {status}, {probe_lines(body)}")

    async def require_success(self) -> None:
        await explain_failures(self._clients[0], self.failures)

    def close(self) -> None:
        for client in self._clients:
            client.close()


async def bench_blackbox(plan: Plan, exporter_pid: int, port: int, round_no: int) -> Result:
    urls = plan.urls
    pool = ExporterPool(port, plan.concurrency)

    async def probe(i: int) -> None:
        await pool.probe(urls[i % len(urls)])

    try:
        await run_pool(len(urls), plan.concurrency, probe)  # warm-up, as for ronda
        await pool.require_success()
        before = snapshot(exporter_pid, plan.farm_pid)
        await run_pool(plan.checks, plan.concurrency, probe)
        after = snapshot(exporter_pid, plan.farm_pid)
        await pool.require_success()
    finally:
        pool.close()
    return result("blackbox", round_no, plan.checks, before, after)


def probe_lines(body: bytes) -> str:
    """The interesting metrics of a failed probe, on one line."""
    wanted = (b"probe_success", b"probe_http_status_code", b"probe_failed_due_to_regex", b"probe_ssl_last_chain")
    return "; ".join(line.decode() for line in body.splitlines() if line.startswith(wanted)) or "no probe metrics"


async def explain_failures(client: ExporterClient, failures: list[str]) -> None:
    """On failure, show the exporter's own log of one failed probe before stopping."""
    if failures:
        url = failures[0].split(": ", 1)[0]
        _, log = await client.get(probe_path(url, debug=True))
        text = log.decode(errors="replace").split("Metrics that would have been returned")[0]
        print(f"blackbox_exporter's debug log for {url}:\n{text.strip()[:3000]}")
    require_success("blackbox_exporter", failures)


# ---------------------------------------------------------------------------- report


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPUs ({model or platform.machine()}), {platform.system()} {platform.release()}"


def print_table(results: list[Result], unit: str = "check") -> None:
    """Every round; `unit` names what Result.checks counts (a check, an audit...)."""
    header = (
        f"{'tool':<10}{'round':>6}{unit + 's':>8}{'wall s':>8}{unit + 's/s':>10}{'CPU ms/' + unit:>14}"
        f"{'CPU %':>7}{'farm %':>8}{'other %':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.tool:<10}{r.round_no:>6}{r.checks:>8}{r.wall:>8.2f}{r.rate:>10.{rate_digits(r.rate)}f}{r.cpu_ms:>14.3f}"
            f"{100 * r.cpu / r.wall:>7.0f}{100 * r.farm_cpu / r.wall:>8.0f}{100 * r.other_cpu / r.wall:>9.0f}"
        )
    print("(CPU %, farm % and other %: share of one core over the round; other = the rest of the machine)")
    busiest = max(r.other_cpu / r.wall for r in results)
    if busiest > BUSY_MACHINE:
        # Found in practice: a test suite running beside the benchmark took most of a core,
        # which cut the wall rates (CPU per check moves much less). Say so next to the figures.
        print(f"warning: other work took up to {100 * busiest:.0f}% of a core; rates are pessimistic, rerun when quiet")
    driven = [r.driver_cpu * 1000 / r.checks for r in results if r.driver_cpu is not None]
    if driven:
        print(f"(our client driving blackbox_exporter used {median(driven):.3f} CPU ms/{unit}, not counted above)")


def rate_digits(rate: float) -> int:
    """Decimals worth printing: none for hundreds of checks per second, one for a few audits."""
    return 0 if rate >= 100 else 1


def print_summary(results: list[Result], unit: str = "check") -> None:
    """Medians over the rounds, and the ratios between the tools."""
    medians = {}
    for tool in dict.fromkeys(r.tool for r in results):
        mine = [r for r in results if r.tool == tool]
        rate, cpu = median(r.rate for r in mine), median(r.cpu_ms for r in mine)
        medians[tool] = (rate, cpu)
        print(f"{tool:<10} median of {len(mine)}: {rate:.{rate_digits(rate)}f} {unit}s/s, {cpu:.3f} CPU ms/{unit}")
    if "ronda" in medians and "blackbox" in medians:
        (ronda_rate, ronda_cpu), (bb_rate, bb_cpu) = medians["ronda"], medians["blackbox"]
        print(
            f"ronda/blackbox: rate {ronda_rate / bb_rate:.2f}x (above 1: ronda {unit}s faster), "
            f"CPU per {unit} {ronda_cpu / bb_cpu:.2f}x (below 1: ronda spends less)"
        )


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--servers", type=int, default=32, help="legacy: HTTPS servers in the farm (default 32)")
    parser.add_argument(
        "--legacy", action="store_true", help="the old, flattering mode: ronda's own Python farm, IP literals"
    )
    parser.add_argument("--checks", type=int, help="measured checks per tool and round (default 1500; legacy 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="checks in flight at once (default 16)")
    parser.add_argument(
        "--rounds", type=int, help="alternating rounds per tool, medians reported (default 5; legacy 3)"
    )
    parser.add_argument("--only", choices=["ronda", "blackbox"], help="measure one tool only")
    parser.add_argument("--port", type=int, default=8443, help="the farm's port on every address (default 8443)")
    parser.add_argument("--blackbox-bin", default=BLACKBOX_BIN, help=f"the exporter's binary (default {BLACKBOX_BIN})")
    parser.add_argument("--farm", action="store_true", help=argparse.SUPPRESS)  # internal: be the farm process
    parser.add_argument("--ca-out", help=argparse.SUPPRESS)  # internal: where the farm writes its CA
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.checks is None:
        args.checks = 2000 if args.legacy else 1500
    if args.rounds is None:
        args.rounds = 3 if args.legacy else 5
    if min(args.checks, args.concurrency, args.rounds) < 1:
        parser.error("--checks, --concurrency and --rounds must be at least 1")
    return args


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.https_nginx import add_arguments as honest_arguments

    honest_arguments(parser)


def honest_main(args: argparse.Namespace) -> None:
    from bench.https_nginx import honest_main as run

    run(args)


def ronda_round_main(args: argparse.Namespace) -> None:
    from bench.https_nginx import ronda_round_main as run

    run(args)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.ronda_round:
        ronda_round_main(args)
        return
    if not args.legacy and not args.farm:
        honest_main(args)
        return
    if args.farm:
        asyncio.run(serve_farm(args.servers, args.port, args.ca_out))
        return
    urls = farm_urls(args.servers, args.port)
    blackbox = None if args.only == "ronda" else find_blackbox(args.blackbox_bin)
    if args.only == "blackbox" and blackbox is None:
        raise SystemExit("nothing to measure")
    stop_on_sigterm()
    print_setup(args, urls, blackbox)
    with tempfile.TemporaryDirectory(prefix="ronda-bench-") as tmp:
        ca_path = os.path.join(tmp, "ca.pem")
        with farm_process(args.servers, args.port, ca_path) as farm:
            plan = Plan(urls, ca_path, args.checks, args.concurrency, farm.pid)
            results = run_rounds(plan, args.rounds, args.only != "blackbox", blackbox, tmp)
    # The servers close every connection after one answer, so requests served count the
    # fresh connections: one per check (warm-ups included) shows that no check reused one.
    expected = sum(r.checks + len(urls) for r in results)
    print(f"farm: answered {farm.served} requests on as many connections, for {expected} checks\n")
    print_table(results)
    print()
    print_summary(results)


def stop_on_sigterm() -> None:
    """SIGTERM becomes SystemExit, so `with` blocks still stop the farm and the exporter."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def print_setup(args: argparse.Namespace, urls: list[str], blackbox: str | None) -> None:
    print(f"machine: {machine()}; Python {platform.python_version()}, {ssl.OPENSSL_VERSION}")
    if blackbox:
        print(f"blackbox_exporter: {blackbox_version(blackbox)}")
    print(
        f"farm: {len(urls)} HTTPS servers, {urls[0]} .. {urls[-1]}; {args.rounds} rounds of {args.checks} checks "
        f"per tool, {args.concurrency} at a time, a fresh TLS connection verified against the farm's CA per check",
        flush=True,
    )


def run_rounds(plan: Plan, rounds: int, with_ronda: bool, blackbox: str | None, tmp: str) -> list[Result]:
    def ronda_round(round_no: int) -> Result:
        return eventloop.run(bench_ronda(plan, round_no))  # the loop ronda itself runs on

    def blackbox_round(round_no: int, exporter_pid: int, port: int) -> Result:
        return asyncio.run(bench_blackbox(plan, exporter_pid, port, round_no))

    return alternate_rounds(rounds, ronda_round if with_ronda else None, blackbox, blackbox_round, plan.ca_path, tmp)


def alternate_rounds(
    rounds: int,
    ronda_round: Callable[[int], Result] | None,
    blackbox: str | None,
    blackbox_round: Callable[[int, int, int], Result],
    ca_path: str,
    tmp: str,
) -> list[Result]:
    """Alternate the tools round by round, so a slow patch of the machine hits both.
    `blackbox` is the exporter's binary (None: ronda only); it runs through all rounds
    with the `http_2xx` module, and blackbox_round(round_no, exporter_pid, port) drives it."""
    results: list[Result] = []
    with contextlib.ExitStack() as stack:
        exporter, port = None, free_port()
        if blackbox:
            config = write_blackbox_config(tmp, ca_path)
            exporter = stack.enter_context(exporter_process(blackbox, config, port, os.path.join(tmp, "bb.log")))
        for round_no in range(1, rounds + 1):
            if ronda_round is not None:
                results.append(ronda_round(round_no))
            if exporter is not None:
                results.append(blackbox_round(round_no, exporter.pid, port))
    return results


if __name__ == "__main__":
    main()
