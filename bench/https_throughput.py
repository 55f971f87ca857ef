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
import os
import platform
import select
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from bench.probers import (
    BLACKBOX_BIN,
    ROOT,
    ExporterPool,
    Result,
    blackbox_version,
    die_with_parent,
    exporter,
    exporter_config,
    find_blackbox,
    free_port,
    machine,
    machine_busy_seconds,
    print_table,
    proc_cpu_seconds,
    rate_digits,
    require_success,
    run_pool,
    stop,
)
from ronda import eventloop

if TYPE_CHECKING:
    from ronda.world.web import WebServer

FIRST_HOST = 10  # the farm lives on 127.0.0.10 and up, clear of 127.0.0.1 and friends
FARM_LIFETIME = 600.0  # the farm stops by itself even if its parent vanished without closing stdin


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
    stop(proc, 10, None)
    said = proc.stdout.read().decode(errors="replace").split()
    return int(said[1]) if said[:1] == ["served"] else None


# ---------------------------------------------------------------------------- measuring


def with_children(pid: int) -> list[int]:
    """A process and those it started: `ronda run` and its probe worker."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def tree_cpu_seconds(pid: int) -> float:
    """The CPU time of a process and its children (`with_children`), together."""
    return sum(proc_cpu_seconds(each) for each in with_children(pid))


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


def result(tool: str, round_no: int, checks: int, before: Snapshot, after: Snapshot) -> Result:
    checker_is_self = tool == "ronda"
    cpu, farm, own = after.checker - before.checker, after.farm - before.farm, after.own - before.own
    ours = cpu + farm + (0.0 if checker_is_self else own)
    # Loopback TCP work done in softirq context is charged to no process, so `other`
    # includes some of our own networking; a large value means the machine was not quiet.
    other = max(after.machine - before.machine - ours, 0.0)
    driver = None if checker_is_self else own
    return Result(tool, round_no, checks, after.wall - before.wall, cpu, farm, other, driver)


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


# ---------------------------------------------------------------------------- blackbox_exporter


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


# ---------------------------------------------------------------------------- report


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
        running, port = None, free_port()
        if blackbox:
            config = exporter_config(Path(tmp), ca_path)
            running = stack.enter_context(exporter(blackbox, config, port, Path(tmp) / "bb.log"))
        for round_no in range(1, rounds + 1):
            if ronda_round is not None:
                results.append(ronda_round(round_no))
            if running is not None:
                results.append(blackbox_round(round_no, running.pid, port))
    return results


if __name__ == "__main__":
    main()
