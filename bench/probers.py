"""What the HTTPS benches share: the machine they run on, CPU accounting of processes,
Prometheus blackbox_exporter (found or installed) and the pool of clients that drives it,
and the table of results. bench/https_throughput.py (ronda's own farm) and
bench/https_nginx.py (nginx in a network namespace) both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import h11

ROOT = Path(__file__).resolve().parent.parent


BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"


BLACKBOX_PACKAGE = "prometheus-blackbox-exporter"


PHASE_LIMIT = 90.0  # seconds one tool may take for its checks before the run is abandoned


CLK_TCK = os.sysconf("SC_CLK_TCK")


BUSY_MACHINE = 0.3  # cores of "other" CPU use beyond which a round's wall rate is suspect


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM when the benchmark dies,
    even by SIGKILL, so no farm or exporter outlives an interrupted run."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/PID/stat (fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the command name may contain spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, every process and the kernel)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / CLK_TCK


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


def require_success(tool: str, failures: list[str]) -> None:
    """A benchmark of failures is meaningless: stop and say why the checks failed."""
    if failures:
        shown = "\n  ".join(failures[:10])
        raise SystemExit(f"{tool}: {len(failures)} checks did not succeed, for example:\n  {shown}")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(proc: subprocess.Popen[bytes], grace: float, sig: int | None = signal.SIGTERM) -> None:
    """Ask `proc` to end (`sig`; None: the caller has asked already, say by closing its
    stdin), give it `grace` seconds, then kill it; it has ended when this returns."""
    if sig is not None:
        proc.send_signal(sig)
    try:
        proc.wait(grace)
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


def exporter_config(directory: Path, ca: str) -> Path:
    """blackbox_exporter's module for the HTTPS benches: IPv4 (the farms listen on it), no
    fallback to IPv6 (nothing to fall back to), 200 expected, the farm's CA trusted."""
    path = directory / "blackbox.yml"
    path.write_text(
        "modules:\n  http_2xx:\n    prober: http\n    timeout: 10s\n    http:\n"
        "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
        f"      valid_status_codes: [200]\n      tls_config:\n        ca_file: {ca}\n"
    )
    return path


@contextlib.contextmanager
def exporter(
    binary: str, config: Path, port: int, log: Path, cpu: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """blackbox_exporter serving `config` on `port`; `cpu`: pinned there, with GOMAXPROCS=1
    (the honest bench's setup), else free to use every core (the legacy bench's)."""
    pinned = ["taskset", "-c", str(cpu)] if cpu is not None else []
    command = [*pinned, binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    env = dict(os.environ, GOMAXPROCS="1") if cpu is not None else None
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            preexec_fn=die_with_parent,
        )  # fmt: skip
    try:
        wait_listening(proc, port, str(log), timeout=15)
        yield proc
    finally:
        stop(proc, 10)


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
