"""Every check keeps its deadline and its own lane: slow DNS, a name with a thousand addresses or
a page with hundreds of asset hosts cost their own check, bounded, and never another monitor's
verdict; what a hostile target sends cannot make a stored verdict large; SIGTERM stops
`ronda run` while such checks are in flight.

Real parts: servers and a DNS server (answering late on purpose) on loopback; the system
resolver's path runs in a network and mount namespace of its own (tests/lanes_world.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from ronda.node.runner import SEND_GRACE, STOP_LIMIT
from ronda.probes.system_dns import SystemResolution, parse_hosts
from ronda.storage.database import Database
from ronda.world.web import Reply
from tests.netns import REPO
from tests.support import RondaProcess, config_text, free_port, wait_for

SHOP = "127.0.0.2"
THOUSAND = tuple(f"127.{1 + i // 250}.{i // 50 % 5}.{i % 50 + 1}" for i in range(1000))


@pytest.fixture
def wide_listener() -> Iterator[int]:
    """A port that accepts connections at every address (IPv4 and IPv6 loopback alike)."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0))
        sock.listen(1024)
        yield sock.getsockname()[1]


def test_a_name_with_a_thousand_addresses_is_checked_at_sixteen_and_the_rest_named(check, wide_listener):
    port = wide_listener
    addresses = (*THOUSAND, "::1")  # an IPv6 address last of all is still checked

    verdict = check(f"tcp://many.test:{port}", resolve={("many.test", port): addresses})

    assert verdict.status == "up"
    assert len(verdict.addresses) == 16
    assert "::1" in verdict.addresses and verdict.addresses[0] == "127.1.0.1"
    [warning] = verdict.warnings
    assert warning.code == "addresses_skipped"
    assert "many.test has 1001 addresses; the first 16 were checked and 985 were not" in warning.detail


@pytest.mark.parametrize("hosts", [20, 200])
def test_asset_hosts_behind_a_slow_dns_server_end_with_the_checks_timeout(web, check, dns_server, hosts):
    shop = web(SHOP)
    names = [f"a{i}.slow.test" for i in range(hosts)]
    for name in names:
        dns_server.zone.set(name, "A", "127.0.0.3")
        dns_server.zone.slow(name, 30.0)
    images = "".join(f'<img src="http://{name}:{shop.port}/x.png">' for name in names)
    shop.default = Reply(body=f"<html><body>{images}</body></html>".encode())

    verdict = check(
        f"http://shop.test:{shop.port}/",
        resolve={("shop.test", shop.port): (SHOP,)},
        nameserver=("127.0.0.1", dns_server.port),
        subresources=True,
        subresource_hosts=hosts,
        timeout=2.0,
    )

    # The page works; the hosts that had their turn did not resolve in time, the rest are named.
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    assert verdict.http is not None and verdict.http["status"] == 200
    assert all("dns_timeout" in finding.detail for finding in verdict.findings)
    checked, skipped = len(verdict.http["subresources"]), verdict.http["subresources_skipped"]
    assert checked + skipped == hosts and checked >= 1
    [warning] = verdict.warnings
    assert warning.code == "subresource_hosts_skipped"
    assert f"{skipped} of the page's {hosts} asset hosts could not be checked within the 2s budget" in warning.detail


def test_a_stored_verdict_stays_small_however_many_asset_hosts_fail(web, check, tmp_path):
    shop = web(SHOP)
    names = [f"asset-host-with-a-rather-long-name-{i}.cdn.shop.test" for i in range(500)]
    images = "".join(f'<img src="http://{name}:{shop.port}/x.png">' for name in names)
    shop.default = Reply(body=f"<html><body>{images}</body></html>".encode())
    resolve = {(name, shop.port): ("127.0.0.3",) for name in names}  # nothing listens there
    resolve[("shop.test", shop.port)] = (SHOP,)
    verdict = check(f"http://shop.test:{shop.port}/", resolve=resolve, subresources=True, subresource_hosts=500)
    full = json.dumps(verdict.to_json())
    assert len(verdict.findings) == 500 and len(full) > 100_000  # what a check may see

    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    store.monitors.sync({"shop": verdict.target})
    store.monitors.record("shop", verdict, 2)
    [stored] = store.monitors.results("shop", 1)
    store.close()

    assert len(json.dumps(stored)) <= 32 * 1024
    assert (stored["status"], stored["cause"]) == ("degraded", "subresource_failed")
    assert stored["findings"][0] == verdict.findings[0].to_json()
    more = stored["findings"][-1]
    kept = len(stored["findings"]) - 1
    assert more["detail"] == f"… and {500 - kept} more findings not stored (subresource_failed ×{500 - kept})"
    assert stored["omitted"]["findings"] == 500 - kept
    assert stored["omitted"]["http.subresources"] == 500 - len(stored["http"]["subresources"])


def test_a_small_verdict_is_stored_as_it_is(check, wide_listener, tmp_path):
    verdict = check(f"tcp://127.0.0.1:{wide_listener}")
    store = Database(f"sqlite:///{tmp_path / 'r.db'}")
    store.monitors.sync({"tcp": verdict.target})
    store.monitors.record("tcp", verdict, 2)
    [stored] = store.monitors.results("tcp", 1)
    store.close()
    assert stored == verdict.to_json()


def test_the_hosts_file_is_read_as_glibc_reads_it(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n"
        "10.0.0.1 Shop.Test shop  # trailing comment\n10.0.0.2 shop.test\nnot-an-address other.test\n"
    )
    system = SystemResolution(resolv_conf=str(tmp_path / "resolv.conf"), hosts=str(hosts))
    assert system.hosts("shop.test.") == ("10.0.0.1", "10.0.0.2")
    assert system.hosts("SHOP") == ("10.0.0.1",)
    assert system.hosts("localhost") == ("127.0.0.1", "::1")
    assert system.hosts("other.test") == ()
    hosts.write_text("10.9.9.9 shop.test\n")  # edited: read again
    assert system.hosts("shop.test") == ("10.9.9.9",)
    assert system.hosts("localhost") == ("127.0.0.1",)  # RFC 6761, though the file no longer says
    assert system.hosts("api.localhost") == ("127.0.0.1",)
    assert parse_hosts("fe80::1%eth0 router\n") == {"router": ("fe80::1%eth0",)}  # a link's scope is kept


def test_the_resolver_configuration_is_the_systems(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.9\nsearch corp.test\noptions timeout:1 attempts:3\n")
    system = SystemResolution(resolv_conf=str(conf), hosts=str(tmp_path / "hosts"))
    resolver = system.resolver()
    assert [str(server) for server in resolver.nameservers] == ["127.0.0.9"]
    assert resolver.timeout == 1.0
    assert [name.to_text() for name in resolver.search] == ["corp.test."]
    conf.unlink()  # gone: glibc's default, the local server
    assert [str(server) for server in system.resolver().nameservers] == ["127.0.0.1"]


def test_a_thousand_monitors_keep_their_verdicts_beside_hostile_ones_and_sigterm_stops_it():
    """tests/lanes_world.py, in a namespace whose system resolver answers the shop's 100 asset
    hosts only after 30 s: the cheap monitors beside it stay up, no incident opens but the
    shop's, and SIGTERM ends `ronda run` cleanly while the shop's lookups are in flight."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to give the system resolver a namespace of its own")
    command = [unshare, "--net", "--mount", sys.executable, "-m", "tests.lanes_world", "1000"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)

    assert report["cheap"] == {"up/None": 1000}, report["cheap"]
    assert report["incidents"] == ["shop"]
    shop = report["shop"]
    assert (shop["status"], shop["cause"]) == ("degraded", "subresource_failed")
    assert "dns_timeout" in shop["summary"]
    assert [w["code"] for w in shop["warnings"]] == ["subresource_hosts_skipped"]
    many = report["many"]
    assert (many["status"], len(many["addresses"])) == ("up", 16)
    assert [w["code"] for w in many["warnings"]] == ["addresses_skipped"]
    assert report["many_stored_bytes"] < 4096
    assert report["stop"]["code"] == 0, report["stop"]["log"]  # stopped cleanly, not by the watchdog
    assert report["stop"]["seconds"] < STOP_LIMIT, report["stop"]
    assert "stopped cleanly" in report["stop"]["log"]


def test_sigterm_ends_ronda_run_even_when_a_notification_hangs_in_its_thread(world_loop, ca_file, tmp_path):
    """A webhook that answers one byte a second, forever, holds the thread sending to it: the
    orderly stop gives it SEND_GRACE, then the process ends by STOP_LIMIT and says why."""
    connections: list[int] = []
    done: list[bool] = []

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not done:
                writer.write(b"a")
                await writer.drain()
                await asyncio.sleep(1)
        except OSError:
            pass  # ronda is gone
        finally:
            writer.transport.abort()

    server = world_loop.run(asyncio.start_server(drip, "127.0.0.1", 0))
    hook = f"json://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    config = tmp_path / "ronda.yaml"
    monitors = f"  - name: gone\n    url: tcp://127.0.0.1:{free_port()}\n"  # refused: an incident, a notice
    config.write_text(config_text(free_port(), ca_file, monitors, notify=f'["{hook}"]'))
    ronda = RondaProcess(config).start()
    try:
        wait_for("the notice to reach the webhook", lambda: connections)
    finally:
        assert ronda.proc is not None
        started = time.monotonic()
        ronda.proc.send_signal(signal.SIGTERM)
        output, _ = ronda.proc.communicate(timeout=STOP_LIMIT + 30)
        took = time.monotonic() - started
        done.append(True)
        server.close()
        time.sleep(1.5)  # the drip notices and lets its connection go

    assert ronda.proc.returncode == 1, output
    assert f"not stopped {STOP_LIMIT:g}s after the signal; exiting with work still running" in " ".join(output.split())
    assert SEND_GRACE <= took < STOP_LIMIT + 10
