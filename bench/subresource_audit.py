"""A page with 50 asset hosts: ronda's --subresources audit against blackbox_exporter
probing the same hosts one by one.

A farm in its own process serves the page `https://shop.test:PORT/` on 127.0.0.10; its
HTML loads one image from each of 50 asset hosts a0.test .. a49.test, each its own HTTPS
server on its own address (127.0.0.11 and up, same port), with its own certificate from
one local CA. Every certificate names its host *and* its IP: ronda checks by name (its
`resolve` option pins each name to its address), blackbox_exporter by IP literal (it has
no --resolve), and both verify the chain and the name against the CA.

- ronda: one `run_check` of the page with `subresources=True` per audit, audits one
  after another. An audit checks the page, parses its HTML, then checks the asset hosts
  concurrently, each with a fresh connection, a verified handshake, certificate analysis
  and a GET of its image. ronda checks at most `subresource_hosts` (20 by default) hosts per page and
  counts the others as skipped: both numbers are printed.
- blackbox_exporter: what a user must configure by hand to watch the same hosts, one
  `/probe` (module `http_2xx`) for the page and one per asset host, run with the
  concurrency ronda uses inside an audit (one task per checked host); a "sweep" of all
  of them is the exporter's counterpart of an audit.

Reported per audit: wall ms, the checker's CPU ms (ronda's process, or the exporter's),
then the same per host checked, with the ratios. Run from the repository root:

    python3 -m bench.subresource_audit [--hosts 50] [--audits 50] [--rounds 3] [--max-hosts N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from statistics import median
from typing import Any

from bench.https_throughput import (
    alternate_rounds,
    farm_hosts,
    module_farm,
    print_summary,
    result,
    serve_until_released,
    snapshot,
    stop_on_sigterm,
)
from bench.probers import (
    BLACKBOX_BIN,
    PHASE_LIMIT,
    ExporterPool,
    Result,
    blackbox_version,
    find_blackbox,
    machine,
    print_table,
    require_success,
    run_pool,
)
from ronda import eventloop
from ronda.check import run_check
from ronda.probes.base import ProbeContext
from ronda.target import CheckOptions, parse_target

PAGE_HOST = "shop.test"
ASSET_PATH = "/a.png"
# A PNG signature is enough: ronda stops at the first body byte, blackbox reads it all.
ASSET = b"\x89PNG\r\n\x1a\n" + bytes(56)


def asset_host(i: int) -> str:
    return f"a{i}.test"


def page_html(hosts: int, port: int) -> bytes:
    images = "".join(f'<img src="https://{asset_host(i)}:{port}{ASSET_PATH}" alt="">\n' for i in range(hosts))
    return f"<!doctype html>\n<html><head><title>shop</title></head><body>\n{images}</body></html>\n".encode()


# ---------------------------------------------------------------------------- the farm


async def serve_shop(hosts: int, port: int, ca_path: str) -> None:
    """The page and its asset hosts, each a server of its own with its own certificate."""
    # Imported here: only the farm process needs the test world.
    from ronda.world.pki import LocalPKI
    from ronda.world.web import Reply, WebServer

    pki = LocalPKI()
    pki.write_ca(ca_path)
    page_address, *addresses = farm_hosts(hosts + 1)
    page = WebServer(page_address, port, tls=pki.server_context(PAGE_HOST, page_address))
    page.default = Reply(body=page_html(hosts, port))
    servers = [page]
    for i, address in enumerate(addresses):
        server = WebServer(address, port, tls=pki.server_context(asset_host(i), address))
        server.routes[ASSET_PATH] = Reply(body=ASSET, headers={"Content-Type": "image/png"})
        servers.append(server)
    await serve_until_released(servers)


# ---------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Shop:
    """The farm as both tools see it, and what one round asks of them."""

    hosts: int
    port: int
    ca_path: str
    audits: int  # measured audits (or blackbox sweeps) per round
    farm_pid: int
    cap: int = CheckOptions().subresource_hosts  # ronda's subresource_hosts

    @cached_property
    def addresses(self) -> list[str]:
        return farm_hosts(self.hosts + 1)  # the page's first, then a0.test's, a1.test's...

    @property
    def page_url(self) -> str:
        return f"https://{PAGE_HOST}:{self.port}/"

    @property
    def resolve(self) -> dict[tuple[str, int], tuple[str, ...]]:
        names = [PAGE_HOST, *(asset_host(i) for i in range(self.hosts))]
        return {(name, self.port): (address,) for name, address in zip(names, self.addresses, strict=True)}

    @property
    def probe_urls(self) -> list[str]:
        """blackbox_exporter's targets: the page and every asset, by IP literal."""
        page, *assets = self.addresses
        return [f"https://{page}:{self.port}/", *(f"https://{a}:{self.port}{ASSET_PATH}" for a in assets)]

    @property
    def checked(self) -> int:
        """Asset hosts ronda checks per audit; the rest it counts as skipped."""
        return min(self.hosts, self.cap)

    @property
    def concurrency(self) -> int:
        """ronda checks every asset host of an audit at once: one task per host."""
        return self.checked


# ---------------------------------------------------------------------------- ronda


async def repeat(times: int, step: Callable[[], Awaitable[None]]) -> None:
    """step() `times` times, one after another, all within PHASE_LIMIT: a farm that stops
    answering must end the run, not cost each audit its full timeout."""
    try:
        async with asyncio.timeout(PHASE_LIMIT):
            for _ in range(times):
                await step()
    except TimeoutError:
        raise SystemExit(f"{times} audits did not finish within {PHASE_LIMIT:g}s: something is stuck") from None


async def bench_ronda(shop: Shop, round_no: int) -> Result:
    target = parse_target(shop.page_url)
    options = CheckOptions(
        timeout=10, ca_file=shop.ca_path, resolve=shop.resolve, subresources=True, subresource_hosts=shop.cap
    )
    # One context for all audits, as ronda's scheduler keeps one: it caches the verifying
    # SSL context (loading the system's roots costs milliseconds), not connections, which
    # ronda opens afresh for every host of every audit.
    ctx = ProbeContext()
    failures: list[str] = []

    async def audit() -> None:
        verdict = await run_check(target, options, ctx)
        failures.extend(audit_failures(shop, verdict.status, verdict.summary, verdict.http))

    await audit()  # warm-up: loads the CA into the context and imports lazily imported code
    require_success("ronda", failures)
    before = snapshot(os.getpid(), shop.farm_pid)
    await repeat(shop.audits, audit)
    after = snapshot(os.getpid(), shop.farm_pid)
    require_success("ronda", failures)
    return result("ronda", round_no, shop.audits, before, after)


def audit_failures(shop: Shop, status: str, summary: str, http: dict[str, Any] | None) -> list[str]:
    """Why an audit is not the one meant to be measured: everything up, and exactly
    `checked` hosts checked and the rest skipped."""
    if status != "up" or http is None:
        return [f"{shop.page_url}: {status}: {summary}"]
    hosts = http.get("subresources", [])
    failures = [f"{h['host']}: {h['status']} {h['cause']}" for h in hosts if h["status"] != "up"]
    skipped = http.get("subresources_skipped", 0)
    if (len(hosts), skipped) != (shop.checked, shop.hosts - shop.checked):
        failures.append(f"{len(hosts)} hosts checked and {skipped} skipped, expected {shop.checked} and the rest")
    return failures


# ---------------------------------------------------------------------------- blackbox_exporter


async def bench_blackbox(shop: Shop, exporter_pid: int, port: int, round_no: int) -> Result:
    urls = shop.probe_urls
    pool = ExporterPool(port, shop.concurrency)

    async def sweep() -> None:
        async def probe(i: int) -> None:
            await pool.probe(urls[i])

        await run_pool(len(urls), shop.concurrency, probe)

    try:
        await sweep()  # warm-up, as for ronda
        await pool.require_success()
        before = snapshot(exporter_pid, shop.farm_pid)
        await repeat(shop.audits, sweep)
        after = snapshot(exporter_pid, shop.farm_pid)
        await pool.require_success()
    finally:
        pool.close()
    return result("blackbox", round_no, shop.audits, before, after)


# ---------------------------------------------------------------------------- report


def print_setup(shop: Shop, rounds: int, blackbox: str | None) -> None:
    print(f"machine: {machine()}; Python {platform.python_version()}, {ssl.OPENSSL_VERSION}")
    if blackbox:
        print(f"blackbox_exporter: {blackbox_version(blackbox)}")
    print(
        f"farm: {shop.page_url} on {shop.addresses[0]}, loading {ASSET_PATH} from {shop.hosts} asset hosts "
        f"{asset_host(0)} .. {asset_host(shop.hosts - 1)} on {shop.addresses[1]} .. {shop.addresses[-1]}"
    )
    print(
        f"ronda: {rounds} rounds of {shop.audits} audits, one at a time; each checks the page and {shop.checked} "
        f"asset hosts at once, and skips {shop.hosts - shop.checked} (subresource_hosts = {shop.cap})"
    )
    if blackbox:
        print(
            f"blackbox: {rounds} rounds of {shop.audits} sweeps, one at a time; each probes the page and all "
            f"{shop.hosts} asset hosts by IP, {shop.concurrency} at a time",
            flush=True,
        )


def served_for(shop: Shop, results: list[Result]) -> int:
    """Requests the farm should have answered: one per host per audit or sweep, warm-ups
    included; the servers close after each answer, so also the connections opened."""
    per = {"ronda": 1 + shop.checked, "blackbox": len(shop.probe_urls)}
    return sum((r.checks + 1) * per[r.tool] for r in results)


def print_per_host(shop: Shop, results: list[Result]) -> None:
    """An audit and a sweep check different numbers of hosts (the cap): per host too."""
    hosts = {"ronda": 1 + shop.checked, "blackbox": len(shop.probe_urls)}
    per_host = {}
    for tool in dict.fromkeys(r.tool for r in results):
        mine = [r for r in results if r.tool == tool]
        wall, cpu = median(1000 * r.wall / r.checks for r in mine), median(r.cpu_ms for r in mine)
        per_host[tool] = cpu / hosts[tool]
        print(
            f"{tool:<10} {wall:.1f} ms per audit for {hosts[tool]} hosts (the page included); "
            f"{cpu:.2f} CPU ms per audit, {per_host[tool]:.3f} CPU ms per host"
        )
    if len(per_host) == 2:
        ratio = per_host["ronda"] / per_host["blackbox"]
        print(f"ronda/blackbox: CPU per host checked {ratio:.2f}x (below 1: ronda spends less)")
    if shop.checked < shop.hosts:
        # The per-audit ratios above compare unequal work: say so beside them.
        print(
            f"note: ronda's audit covers {1 + shop.checked} of the {1 + shop.hosts} hosts (subresource_hosts); "
            f"compare per host, or see --max-hosts {shop.hosts} for an audit of them all"
        )


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=50, help="asset hosts the page loads from (default 50)")
    parser.add_argument("--audits", type=int, default=50, help="measured audits per tool and round (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per tool, medians reported (3)")
    parser.add_argument("--only", choices=["ronda", "blackbox"], help="measure one tool only")
    parser.add_argument("--port", type=int, default=8444, help="the farm's port on every address (default 8444)")
    parser.add_argument("--blackbox-bin", default=BLACKBOX_BIN, help=f"the exporter's binary (default {BLACKBOX_BIN})")
    parser.add_argument(
        "--max-hosts",
        type=int,
        default=CheckOptions().subresource_hosts,
        help="ronda's subresource_hosts: how many asset hosts one audit checks (default: ronda's own default)",
    )
    parser.add_argument("--farm", action="store_true", help=argparse.SUPPRESS)  # internal: be the farm process
    parser.add_argument("--ca-out", help=argparse.SUPPRESS)  # internal: where the farm writes its CA
    args = parser.parse_args(argv)
    if min(args.hosts, args.audits, args.rounds, args.max_hosts) < 1:
        parser.error("--hosts, --audits, --rounds and --max-hosts must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.farm:
        asyncio.run(serve_shop(args.hosts, args.port, args.ca_out))
        return
    blackbox = None if args.only == "ronda" else find_blackbox(args.blackbox_bin)
    if args.only == "blackbox" and blackbox is None:
        raise SystemExit("nothing to measure")
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="ronda-bench-") as tmp:
        ca_path = os.path.join(tmp, "ca.pem")
        arguments = ["--hosts", str(args.hosts), "--port", str(args.port), "--ca-out", ca_path]
        with module_farm("bench.subresource_audit", arguments) as farm:
            shop = Shop(args.hosts, args.port, ca_path, args.audits, farm.pid, args.max_hosts)
            print_setup(shop, args.rounds, blackbox)
            results = alternate_rounds(
                args.rounds,
                None if args.only == "blackbox" else lambda n: eventloop.run(bench_ronda(shop, n)),
                blackbox,
                lambda n, pid, port: asyncio.run(bench_blackbox(shop, pid, port, n)),
                ca_path,
                tmp,
            )
    expected = served_for(shop, results)
    print(f"farm: answered {farm.served} requests on as many connections, for {expected} host checks\n")
    print_table(results, unit="audit")
    if any(r.tool == "blackbox" for r in results):
        print("(blackbox: an audit is a sweep of its probes over the page and every asset host)")
    print()
    print_summary(results, unit="audit")
    print_per_host(shop, results)


if __name__ == "__main__":
    main()
