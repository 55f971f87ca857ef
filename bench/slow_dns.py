"""`ronda check --subresources` against a page whose asset hosts sit behind a slow DNS server:
does the check end within its --timeout, and what does its verdict say?

The system resolver is what is measured, so the run needs a machine of its own: the script
re-runs itself in a fresh network and mount namespace (`unshare --net --mount`, as root),
where a DNS server that answers only after `--delay` seconds listens on 127.0.0.1:53 and
/etc/resolv.conf (bind-mounted over for this namespace only) points at it. Nothing leaves
the namespace's loopback. The page, http://shop.test:PORT/, is pinned with --resolve; it
loads one image from each of N hosts h0.slow.test .. hN-1.slow.test, all served on loopback.

    python3 -m bench.slow_dns [--hosts 20,500] [--timeout 5] [--delay 30] [--cap 120]

Printed per size: wall seconds of the same command without --subresources (the process's
start and the page), then of the whole `ronda check --subresources` process (a run that
passes --cap is killed and said so), its exit code, the verdict's status, cause, warning codes and
summary, and the bytes of its JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from ronda.world.background import BackgroundLoop
from ronda.world.dnsserver import DnsServer, Zone
from ronda.world.web import Reply, WebServer

INSIDE = "RONDA_BENCH_SLOW_DNS_INSIDE"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="20,500", help="asset host counts, comma-separated")
    parser.add_argument("--timeout", type=float, default=5.0, help="ronda check --timeout")
    parser.add_argument("--delay", type=float, default=30.0, help="seconds the DNS server waits before answering")
    parser.add_argument("--cap", type=float, default=120.0, help="kill a check still running after this long")
    args = parser.parse_args()
    if os.environ.get(INSIDE) != "1":
        return _reenter()
    _isolate_resolver()
    loop = BackgroundLoop()
    try:
        for hosts in (int(n) for n in args.hosts.split(",")):
            _measure(loop, hosts, args.timeout, args.delay, args.cap)
    finally:
        loop.close()
    return 0


def _reenter() -> int:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        print("needs root and unshare (util-linux): the run makes its own network and mount namespace")
        return 2
    env = {**os.environ, INSIDE: "1"}
    command = [unshare, "--net", "--mount", sys.executable, "-m", "bench.slow_dns", *sys.argv[1:]]
    return subprocess.run(command, env=env).returncode


def _isolate_resolver() -> None:
    """lo up, and this namespace's /etc/resolv.conf naming the slow server on 127.0.0.1."""
    subprocess.run([shutil.which("ip") or "/usr/sbin/ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)  # our mounts stay ours
    conf = os.path.join(tempfile.mkdtemp(prefix="ronda-slow-dns-"), "resolv.conf")
    with open(conf, "w") as file:
        file.write("nameserver 127.0.0.1\n")
    subprocess.run(["mount", "--bind", conf, "/etc/resolv.conf"], check=True)


def _measure(loop: BackgroundLoop, hosts: int, timeout: float, delay: float, cap: float) -> None:
    zone = Zone()
    names = [f"h{i}.slow.test" for i in range(hosts)]
    for name in names:
        zone.set(name, "A", "127.0.0.1")
        zone.slow(name, delay)
    dns = DnsServer("127.0.0.1", 53, zone)
    web = WebServer("127.0.0.1")
    loop.run(dns.start())
    loop.run(web.start())
    try:
        images = "".join(f'<img src="http://{name}:{web.port}/x.png">' for name in names)
        web.default = Reply(body=f"<html><body>{images}</body></html>".encode())
        web.routes["/x.png"] = Reply(body=b"png", headers={"Content-Type": "image/png"})
        url = f"http://shop.test:{web.port}/"
        command = [
            *(sys.executable, "-m", "ronda", "check", url, "--json", "--subresources"),
            *("--subresource-hosts", str(hosts), "--timeout", str(timeout)),
            *("--resolve", f"shop.test:{web.port}:127.0.0.1"),
        ]
        started = time.monotonic()
        subprocess.run([c for c in command if c != "--subresources"], capture_output=True, timeout=cap)
        baseline = time.monotonic() - started  # the process's start and the page alone
        started = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=cap)
        except subprocess.TimeoutExpired:
            print(f"{hosts:4d} hosts: still running after {cap:.0f}s, killed; no verdict")
            return
        took = time.monotonic() - started
        print(f"{hosts:4d} hosts: without --subresources the same command took {baseline:.1f}s")
        _report(hosts, took, done)
    finally:
        loop.run(web.stop())
        loop.run(dns.stop())


def _report(hosts: int, took: float, done: subprocess.CompletedProcess[str]) -> None:
    try:
        verdict = json.loads(done.stdout)
    except json.JSONDecodeError:
        print(f"{hosts:4d} hosts: {took:6.1f}s, exit {done.returncode}, no verdict: {done.stderr.strip()[-300:]}")
        return
    warnings = sorted({w["code"] for w in verdict["warnings"]})
    print(
        f"{hosts:4d} hosts: {took:6.1f}s, exit {done.returncode}, {verdict['status']} ({verdict['cause']}), "
        f"{len(verdict['findings'])} findings, warnings {warnings}, {len(done.stdout)} bytes of JSON\n"
        f"           {verdict['summary'][:200]}"
    )


if __name__ == "__main__":
    sys.exit(main())
