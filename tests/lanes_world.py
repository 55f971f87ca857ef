"""A world for tests/test_lanes.py, run as `python -m tests.lanes_world MONITORS` inside a network
and mount namespace of its own (`unshare --net --mount`, as root), so that the *system*
resolver can be made hostile without touching the machine's: this namespace's
/etc/resolv.conf names a DNS server on its own 127.0.0.1:53 and its /etc/hosts names the shop.

There, `ronda run` watches MONITORS cheap monitors (tcp://mN.fast.test, names the DNS server
answers at once, a listener that accepts) beside two hostile ones:
- `shop`: a page (found through /etc/hosts) loading images from 100 hosts whose names the DNS
  server answers only after 30 s, checked with --subresources, all 100 hosts allowed;
- `many`: a name pinned to 1,000 addresses, all of them accepting.
Once every cheap monitor has a verdict and another interval has passed, it reads the API and
then stops ronda with SIGTERM while `shop`'s slow lookups are in flight; it prints one JSON
report on stdout for the test to judge (tests/test_lanes.py says what must hold).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ronda.world.background import BackgroundLoop
from ronda.world.dnsserver import DnsServer, Zone
from ronda.world.web import Reply, WebServer
from tests.support import RondaProcess, free_port, wait_for

ASSET_HOSTS = 100
ADDRESSES = 1000
INTERVAL = 10  # seconds, every monitor
SLOW = 30.0  # seconds the DNS server takes to answer for the shop's asset hosts
STOP_WAIT = 60  # seconds after SIGTERM before the process is killed (ronda's own limit: 15)


def main() -> None:
    count = int(sys.argv[1])
    folder = Path(tempfile.mkdtemp(prefix="ronda-lanes-"))
    _own_resolver(folder)
    loop = BackgroundLoop()
    zone = Zone()
    for i in range(count):
        zone.set(f"m{i}.fast.test", "A", "127.0.0.1")
    for i in range(ASSET_HOSTS):
        zone.set(f"a{i}.slow.test", "A", "127.0.0.1")
        zone.slow(f"a{i}.slow.test", SLOW)
    loop.run(DnsServer("127.0.0.1", 53, zone).start())
    shop = WebServer("127.0.0.1")
    loop.run(shop.start())
    images = "".join(f'<img src="http://a{i}.slow.test:{shop.port}/x.png">' for i in range(ASSET_HOSTS))
    shop.default = Reply(body=f"<html><body>{images}</body></html>".encode())
    listener = loop.run(asyncio.start_server(_hang_up, "0.0.0.0", 0, backlog=4096))
    port = listener.sockets[0].getsockname()[1]
    config = folder / "ronda.yaml"
    config.write_text(_config(count, port, shop.port))
    os.chdir(folder)  # the database beside the config
    ronda = RondaProcess(config).start(timeout=120)  # a thousand monitors to load
    report: dict[str, Any] = {}
    try:
        wait_for("a verdict of every monitor", lambda: _all_checked(ronda), timeout=180)
        time.sleep(INTERVAL)  # a second round, with the shop's slow lookups running beside it
        monitors = {m["name"]: m for m in ronda.api("/api/v1/monitors")}
        cheap = [m for name, m in monitors.items() if name.startswith("m") and name[1:].isdigit()]
        report["cheap"] = dict(Counter(f"{m['status']}/{m['cause']}" for m in cheap))
        report["incidents"] = sorted({i["monitor"] for i in ronda.api("/api/v1/incidents")})
        report["shop"] = monitors["shop"]["last_check"]
        report["many"] = monitors["many"]["last_check"]
        report["many_stored_bytes"] = len(json.dumps(ronda.api("/api/v1/monitors/many/results?limit=1")[0]))
    finally:
        report["stop"] = _stop(ronda)
    print(json.dumps(report))


def _stop(ronda: RondaProcess) -> dict[str, Any]:
    """SIGTERM, and how it went; a process still running after STOP_WAIT is killed and said so."""
    assert ronda.proc is not None
    started = time.monotonic()
    ronda.proc.send_signal(signal.SIGTERM)
    try:
        output, _ = ronda.proc.communicate(timeout=STOP_WAIT)
    except subprocess.TimeoutExpired:
        ronda.proc.kill()
        output, _ = ronda.proc.communicate()
        return {"code": None, "seconds": None, "log": f"still running {STOP_WAIT}s after SIGTERM, killed"}
    return {"code": ronda.proc.returncode, "seconds": round(time.monotonic() - started, 1), "log": output[-2000:]}


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.transport.abort()


def _own_resolver(folder: Path) -> None:
    """lo up; this namespace's resolv.conf and hosts, bind-mounted where the system reads them."""
    subprocess.run([shutil.which("ip") or "/usr/sbin/ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)  # our mounts stay in this namespace
    files = {"/etc/resolv.conf": "nameserver 127.0.0.1\n", "/etc/hosts": "127.0.0.1 localhost\n127.0.0.1 shop.test\n"}
    for target, text in files.items():
        source = folder / Path(target).name
        source.write_text(text)
        subprocess.run(["mount", "--bind", str(source), target], check=True)


def _config(count: int, port: int, shop_port: int) -> str:
    addresses = ", ".join(f'"127.{1 + i // 250}.{i // 50 % 5}.{i % 50 + 1}"' for i in range(ADDRESSES))
    lines = [
        f"server:\n  listen: 127.0.0.1:{free_port()}\n  token: ${{RONDA_TOKEN}}",
        "storage: sqlite:///ronda.db",
        f"defaults:\n  interval: {INTERVAL}s\n  timeout: 5s\n  confirm: 1",
        "canaries: []",
        "monitors:",
        f"  - name: shop\n    url: http://shop.test:{shop_port}/\n    subresources: true\n"
        f"    subresource_hosts: {ASSET_HOSTS}\n    interval: 5s",
        f'  - name: many\n    url: tcp://many.test:{port}\n    resolve: {{"many.test:{port}": [{addresses}]}}',
    ]
    lines += [f"  - name: m{i}\n    url: tcp://m{i}.fast.test:{port}" for i in range(count)]
    return "\n".join(lines) + "\n"


def _all_checked(ronda: RondaProcess) -> bool:
    return all(m["last_check"] is not None for m in ronda.api("/api/v1/monitors"))


if __name__ == "__main__":
    main()
