"""The honest HTTPS bench: ronda against blackbox_exporter on a farm neither of them wrote.

- The farm is nginx from Debian (installed with apt-get when missing), serving 200 names,
  each with its own chain (root -> the name's own intermediate -> its leaf; ECDSA P-256, or
  RSA 2048 with `--key rsa`), full handshakes only (no session cache, no tickets).
- The names are resolved through the system: they are written to /etc/netns/NAME/hosts of a
  network namespace this bench makes, which `ip netns exec` mounts over /etc/hosts for what
  runs inside; the machine's own /etc/hosts is never touched. nginx, both probers and the
  driver run in that namespace, whose only interface is its own loopback: no traffic leaves.
- Both probers are pinned to the same one core (taskset), the exporter with GOMAXPROCS=1;
  nginx and the driver share the other core. The tools take turns for 5 rounds; medians.
- `--fail-share 0.1` serves an expired certificate on a tenth of the names: ronda must say
  `cert_expired` and the exporter `probe_success 0` for exactly those, and they count as
  checks done.

Run as root from the repository root: `python3 -m bench.https_throughput` (see
docs/benchmarks.md). Certificates are cached in $TMPDIR/ronda-bench-https-pki-v2-KEY, since 600
RSA keys take a while to make.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from bench.probers import (
    BLACKBOX_BIN,
    ROOT,
    ExporterPool,
    Result,
    apt,
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
    run_pool,
    stop,
)

NAMES = 200
PORT = 443
PROBER_CPU = 1  # both probers run here, one at a time
FARM_CPU = 0  # nginx and the driver
NGINX_PACKAGE = "nginx-light"
DOMAIN = "farm.test"


def name_of(i: int) -> str:
    return f"site{i:03d}.{DOMAIN}"


def address_of(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


def failing(i: int, share: float) -> bool:
    """Every 1/share-th name fails (spread evenly, so round-robin checks meet them evenly)."""
    return share > 0 and int((i + 1) * share) != int(i * share)


# ---------------------------------------------------------------------------- certificates


def _key(kind: str):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    return ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else rsa.generate_private_key(65537, 2048)


def _write(path: Path, cert, key=None) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.with_suffix(".key").write_bytes(pem)


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool, start: dt.datetime, end: dt.datetime, san: str = ""):  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        usage = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
    builder = builder.add_extension(usage, critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(kind: str, names: int, fail_share: float) -> Path:
    """root.pem; per name NAME.pem (leaf then intermediate) and NAME.key; NAME-expired.pem
    and .key for the failing names. Made once per key kind, then reused."""
    directory = Path(tempfile.gettempdir()) / f"ronda-bench-https-pki-v2-{kind}"
    directory.mkdir(exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    root_key = None
    if not (directory / "root.pem").exists() or not (directory / "root.key").exists():
        root_key = _key(kind)
        root = _cert(
            "bench farm root",
            root_key,
            "bench farm root",
            root_key,
            True,
            now - dt.timedelta(days=400),
            now + dt.timedelta(days=3650),
        )
        _write(directory / "root.pem", root, root_key)
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    root_key = root_key or serialization.load_pem_private_key((directory / "root.key").read_bytes(), None)
    made = 0
    for i in range(names):
        name = name_of(i)
        wanted = [directory / f"{name}.pem"] + ([directory / f"{name}-expired.pem"] if failing(i, fail_share) else [])
        if all(path.exists() for path in wanted):
            continue
        inter_path = directory / f"{name}-ca.pem"
        if inter_path.exists():
            inter = x509.load_pem_x509_certificate(inter_path.read_bytes())
            inter_key = serialization.load_pem_private_key(inter_path.with_suffix(".key").read_bytes(), None)
        else:
            inter_key = _key(kind)
            inter = _cert(
                f"{name} issuing CA",
                inter_key,
                "bench farm root",
                root_key,
                True,
                now - dt.timedelta(days=365),
                now + dt.timedelta(days=3000),
            )
            _write(inter_path, inter, inter_key)
        for path, start, end in (
            (directory / f"{name}.pem", now - dt.timedelta(days=1), now + dt.timedelta(days=90)),
            (directory / f"{name}-expired.pem", now - dt.timedelta(days=100), now - dt.timedelta(days=10)),
        ):
            if path in wanted and not path.exists():
                leaf_key = _key(kind)
                leaf = _cert(name, leaf_key, f"{name} issuing CA", inter_key, False, start, end, san=name)
                _write(path, leaf, leaf_key)
                path.write_bytes(path.read_bytes() + inter_path.read_bytes())  # leaf, then its issuer
                made += 1
    if made:
        print(f"made {made} {kind} certificates in {directory}", flush=True)
    return directory


# ---------------------------------------------------------------------------- namespace and farm


@contextlib.contextmanager
def namespace(names: int) -> Iterator[str]:
    """A network namespace with the farm's names in its own hosts file."""
    name = f"ronda-https-{os.getpid()}"
    etc = Path("/etc/netns") / name
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        etc.mkdir(parents=True)
        lines = ["127.0.0.1 localhost"] + [f"{address_of(i)} {name_of(i)}" for i in range(names)]
        (etc / "hosts").write_text("\n".join(lines) + "\n")
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)
        shutil.rmtree(etc, ignore_errors=True)
        with contextlib.suppress(OSError):
            Path("/etc/netns").rmdir()  # only when empty: another namespace's files stay


def find_nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit("nginx is missing and apt-get cannot be run as root here")
    print(f"installing {NGINX_PACKAGE} with apt-get ...", flush=True)
    if not apt(["install", "-y", NGINX_PACKAGE]) and not (apt(["update"]) and apt(["install", "-y", NGINX_PACKAGE])):
        raise SystemExit(f"apt-get could not install {NGINX_PACKAGE}")
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_config(prefix: Path, pki: Path, names: int, fail_share: float) -> Path:
    servers = []
    for i in range(names):
        name = name_of(i)
        cert = pki / (f"{name}-expired.pem" if failing(i, fail_share) else f"{name}.pem")
        servers.append(
            f"  server {{\n    listen {PORT} ssl{' default_server' if i == 0 else ''};\n    server_name {name};\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {cert.with_suffix('.key')};\n"
            '    location / { return 200 "ok\\n"; }\n  }\n'
        )
    text = (
        f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n  access_log off;\n  keepalive_timeout 0;\n"
        "  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_cache off;\n  ssl_session_tickets off;\n"
        f"  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n" + "".join(servers) + "}\n"
    )
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


@contextlib.contextmanager
def nginx_process(binary: str, config: Path, prefix: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        "taskset",
        "-c",
        str(FARM_CPU),
        binary,
        "-p",
        str(prefix),
        "-e",
        f"{prefix}/error.log",
        "-c",
        str(config),
        "-g",
        "daemon off;",
    ]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        give_up = time.monotonic() + 20
        import socket

        while time.monotonic() < give_up:
            if proc.poll() is not None:
                raise SystemExit(f"nginx exited with {proc.returncode}: {(prefix / 'error.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((address_of(0), PORT), timeout=1):
                break
            time.sleep(0.05)
        yield proc
    finally:
        stop(proc, 10, signal.SIGQUIT)  # nginx's graceful stop


def nginx_cpu(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sum(proc_cpu_seconds(pid) for pid in [master, *map(int, children)])


# ---------------------------------------------------------------------------- ronda's rounds


@dataclass(frozen=True)
class Round:
    checks: int
    wall: float
    cpu: float
    failed: int  # checks that found the expected certificate failure
    farm: float  # nginx's CPU seconds over the same interval
    machine: float  # the whole machine's busy CPU seconds over the same interval


def ronda_round_main(args: argparse.Namespace) -> None:
    """In the pinned child: warm up, then `checks` checks; one JSON line on stdout."""
    from ronda import eventloop

    print(json.dumps(eventloop.run(_ronda_round(args)).__dict__), flush=True)


async def _ronda_round(args: argparse.Namespace) -> Round:
    from ronda.check import run_check
    from ronda.probes.base import ProbeContext
    from ronda.target import CheckOptions, Expectations, parse_target

    targets = [parse_target(f"https://{name_of(i)}/") for i in range(args.names)]
    bad = {i for i in range(args.names) if failing(i, args.fail_share)}
    options = CheckOptions(timeout=10, ca_file=args.ca, expect=Expectations(status=200))
    ctx = ProbeContext()
    wrong: list[str] = []
    failed = 0

    async def check(i: int) -> None:
        nonlocal failed
        n = i % len(targets)
        verdict = await run_check(targets[n], options, ctx)
        expected = ("down", "cert_expired") if n in bad else ("up", None)
        if (verdict.status, verdict.cause) != expected:
            wrong.append(f"{verdict.target}: {verdict.status} {verdict.cause}: {verdict.summary}")
        failed += n in bad

    await run_pool(len(targets), args.concurrency, check)
    failed = 0
    farm, machine = nginx_cpu(args.nginx_pid), machine_busy_seconds()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    await run_pool(args.checks, args.concurrency, check)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    farm, machine = nginx_cpu(args.nginx_pid) - farm, machine_busy_seconds() - machine
    done = Round(args.checks, wall, cpu, failed, farm, machine)
    if wrong:
        raise SystemExit(f"ronda: {len(wrong)} verdicts not as expected, e.g.:\n  " + "\n  ".join(wrong[:5]))
    return done


def ronda_round(args: argparse.Namespace, ca: str, round_no: int, nginx_pid: int) -> Result:
    command = [
        "taskset", "-c", str(PROBER_CPU), sys.executable, "-m", "bench.https_throughput", "--ronda-round",
        "--names", str(args.names), "--fail-share", str(args.fail_share), "--ca", ca,
        "--checks", str(args.checks), "--concurrency", str(args.concurrency), "--nginx-pid", str(nginx_pid),
    ]  # fmt: skip
    if args.py_spy:  # where ronda's time goes: a flame graph per round (py-spy's own cost included)
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        out = f"{args.py_spy}.{round_no}.txt"
        command[3:3] = [spy, "record", "--native", "-r", "200", "-f", "raw", "-o", out, "--"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"ronda's round failed:\n{done.stdout}{done.stderr}")
    said = [line for line in done.stdout.splitlines() if line.startswith("{")]  # py-spy talks too
    r = Round(**json.loads(said[-1]))
    if r.failed != expected_failures(args):
        raise SystemExit(f"ronda found {r.failed} failing certificates, expected {expected_failures(args)}")
    return Result("ronda", round_no, r.checks, r.wall, r.cpu, r.farm, max(r.machine - r.cpu - r.farm, 0.0))


def expected_failures(args: argparse.Namespace) -> int:
    """How many of a round's checks meet a failing certificate (round-robin over the names)."""
    return sum(failing(i % args.names, args.fail_share) for i in range(args.checks))


# ---------------------------------------------------------------------------- the exporter's rounds


async def exporter_round(args: argparse.Namespace, pid: int, port: int, round_no: int, nginx_pid: int) -> Result:
    urls = [f"https://{name_of(i)}/" for i in range(args.names)]
    bad = {urls[i] for i in range(args.names) if failing(i, args.fail_share)}
    pool = ExporterPool(port, args.concurrency)

    async def probe(i: int) -> None:
        await pool.probe(urls[i % len(urls)])

    def unexpected() -> list[str]:
        return [f for f in pool.failures if f.split(": ", 1)[0] not in bad]

    try:
        await run_pool(len(urls), args.concurrency, probe)
        if len([f for f in pool.failures if f.split(": ", 1)[0] in bad]) != len(bad) or unexpected():
            await pool.require_success()
        pool.failures.clear()
        own = time.process_time()
        before = (time.perf_counter(), proc_cpu_seconds(pid), nginx_cpu(nginx_pid), machine_busy_seconds())
        await run_pool(args.checks, args.concurrency, probe)
        after = (time.perf_counter(), proc_cpu_seconds(pid), nginx_cpu(nginx_pid), machine_busy_seconds())
        own = time.process_time() - own
        if unexpected():
            pool.failures[:] = unexpected()
            await pool.require_success()
        if len(pool.failures) != expected_failures(args):
            raise SystemExit(f"the exporter failed {len(pool.failures)} probes, expected {expected_failures(args)}")
    finally:
        pool.close()
    wall, cpu, farm, machine = (a - b for a, b in zip(after, before, strict=True))
    other = max(machine - cpu - farm - own, 0.0)
    return Result("blackbox", round_no, args.checks, wall, cpu, farm, other, driver_cpu=own)


# ---------------------------------------------------------------------------- main


def inside_main(args: argparse.Namespace) -> None:
    """Inside the namespace: nginx, the exporter, and the rounds."""
    os.sched_setaffinity(0, {FARM_CPU})  # the driver stays off the probers' core
    pki = Path(args.pki)
    ca = str(pki / "root.pem")
    blackbox = None if args.only == "ronda" else find_blackbox(args.blackbox_bin)
    with tempfile.TemporaryDirectory(prefix="ronda-bench-nginx-") as tmp, contextlib.ExitStack() as stack:
        prefix = Path(tmp)
        config = nginx_config(prefix, pki, args.names, args.fail_share)
        nginx = stack.enter_context(nginx_process(find_nginx(), config, prefix))
        port = free_port()
        bb = (
            stack.enter_context(exporter(blackbox, exporter_config(prefix, ca), port, prefix / "bb.log", PROBER_CPU))
            if blackbox
            else None
        )
        results: list[Result] = []
        for round_no in range(1, args.rounds + 1):
            if args.only != "blackbox":
                results.append(ronda_round(args, ca, round_no, nginx.pid))
            if bb is not None:
                results.append(asyncio.run(exporter_round(args, bb.pid, port, round_no, nginx.pid)))
    print_table(results)
    print()
    summary(results)


def summary(results: list[Result]) -> None:
    medians = {}
    for tool in dict.fromkeys(r.tool for r in results):
        mine = [r for r in results if r.tool == tool]
        per_cpu = median(r.checks / r.cpu for r in mine)
        rate = median(r.rate for r in mine)
        medians[tool] = (per_cpu, rate)
        print(f"{tool:<10} median of {len(mine)}: {per_cpu:.0f} checks per CPU-second, {rate:.0f} checks/s wall")
    if len(medians) == 2:
        (r_cpu, r_rate), (b_cpu, b_rate) = medians["ronda"], medians["blackbox"]
        print(f"ronda/blackbox: checks per CPU-second {r_cpu / b_cpu:.2f}x, wall rate {r_rate / b_rate:.2f}x")


def honest_main(args: argparse.Namespace) -> None:
    if args.inside:
        inside_main(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("the honest bench makes a network namespace and runs nginx: run it as root")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("the honest bench needs two CPUs: one for the probers, one for nginx and the driver")
    find_nginx()
    if args.only != "ronda":
        find_blackbox(args.blackbox_bin)
    pki = make_pki(args.key, args.names, args.fail_share)
    print(f"machine: {machine()}; Python {sys.version.split()[0]}")
    if args.only != "ronda" and Path(args.blackbox_bin).exists():
        print(f"blackbox_exporter: {blackbox_version(args.blackbox_bin)}, GOMAXPROCS=1")
    print(
        f"farm: nginx, {args.names} names ({name_of(0)} .. {name_of(args.names - 1)}), "
        f"each with its own {args.key} chain, "
        f"resolved through the namespace's /etc/hosts; {args.fail_share:.0%} of them serve an expired certificate; "
        f"{args.rounds} rounds of {args.checks} checks per tool, {args.concurrency} at a time; "
        f"probers pinned to CPU {PROBER_CPU}, nginx and the driver to CPU {FARM_CPU}",
        flush=True,
    )
    with namespace(args.names) as ns:
        inner = [a for a in sys.argv[1:]] + ["--inside", "--pki", str(pki)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-m", "bench.https_throughput", *inner], cwd=ROOT, env=env
        )
    if done.returncode:
        raise SystemExit(done.returncode)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--key", choices=["ecdsa", "rsa"], default="ecdsa", help="the farm's key type (default ecdsa)")
    parser.add_argument("--names", type=int, default=NAMES, help=f"names in the farm (default {NAMES})")
    parser.add_argument("--fail-share", type=float, default=0.0, help="share of names serving an expired certificate")
    parser.add_argument("--py-spy", metavar="PREFIX", help="profile ronda's rounds with py-spy into PREFIX.N.txt")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ronda-round", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pki", help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--nginx-pid", type=int, help=argparse.SUPPRESS)


__all__ = ["BLACKBOX_BIN", "add_arguments", "honest_main", "ronda_round_main"]
