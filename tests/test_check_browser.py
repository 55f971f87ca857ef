"""browser+https:// against real loopback servers, the page loaded in Debian's Chromium
(Playwright): what a page's JavaScript loads is seen, which `--subresources` cannot see.

Every server listens on the same port at its own loopback address; `resolve=` maps each name,
for ronda and (as --host-resolver-rules) for Chromium."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest

from ronda.check import run_check
from ronda.probes.browsers import BROWSERS
from ronda.probes.neterrors import cause_of
from ronda.target import CheckOptions, parse_target
from ronda.world.web import Reply, WebServer

SHOP = "127.0.0.2"
IMAGES = "127.0.0.3"


def names(port: int, **addresses: str) -> dict[tuple[str, int], tuple[str, ...]]:
    table: dict[tuple[str, int], tuple[str, ...]] = {("shop.test", port): (SHOP,)}
    for name, address in addresses.items():
        table[(name.replace("_", "."), port)] = (address,)
    return table


def page(server: WebServer, html: str) -> None:
    server.default = Reply(body=f"<!doctype html><html><body>{html}</body></html>".encode())


def image() -> Reply:
    return Reply(body=b"\x89PNG...", headers={"Content-Type": "image/png"})


def expired(pki, name: str):
    now = datetime.now(UTC)
    return pki.server_context(name, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))


def loads_with_script(url: str) -> str:
    return f"<h1>Shop</h1><script>{{ const i = new Image(); i.src = {url!r}; document.body.appendChild(i); }}</script>"


def test_an_image_only_javascript_loads_from_an_expired_host_is_seen_by_the_browser_not_by_subresources(
    web, pki, check
):
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    images = web(IMAGES, port=shop.port, tls=expired(pki, "img.shop.test"))
    logo = f"https://img.shop.test:{shop.port}/logo.png"
    page(shop, loads_with_script(logo))
    images.routes["/logo.png"] = image()
    resolve = names(shop.port, img_shop_test=IMAGES)

    parsed = check(f"https://shop.test:{shop.port}/", resolve=resolve, subresources=True, timeout=10)
    assert parsed.status == "up" and parsed.http is not None
    assert parsed.http["subresources"] == []  # no parser sees what a script loads

    verdict = check(f"browser+https://shop.test:{shop.port}/", resolve=resolve, timeout=10)
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert finding.host == "img.shop.test"
    assert finding.detail.startswith(f"img.shop.test:{shop.port}: cert_expired: ")
    [image_cert] = [c for c in verdict.certificates if c.host == "img.shop.test"]
    assert image_cert.problems == ("cert_expired",)
    assert {c.host for c in verdict.certificates} == {"shop.test", "img.shop.test"}
    browser = verdict.facts["browser"]
    assert browser["status"] == 200
    assert {h["host"]: h["cause"] for h in browser["hosts"]} == {"img.shop.test": "cert_expired"}
    assert verdict.latency_ms is not None


def test_an_image_missing_on_its_host_is_a_client_error_named_with_its_url(web, check):
    shop = web(SHOP)
    images = web(IMAGES, port=shop.port)
    images.routes["/there.png"] = image()
    images.routes["/gone.png"] = Reply(status=404, body=b"not found", headers={"Content-Type": "text/plain"})
    missing = f"http://img.shop.test:{shop.port}/gone.png"
    page(shop, loads_with_script(f"http://img.shop.test:{shop.port}/there.png") + loads_with_script(missing))

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test=IMAGES))

    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert finding.host == "img.shop.test"
    assert "http_client_error" in finding.detail and missing in finding.detail and "404" in finding.detail


def test_a_script_that_throws_is_a_console_error_warning(web, check):
    shop = web(SHOP)
    page(shop, "<script>throw new Error('cart widget broke')</script>")

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port))

    assert verdict.status == "up"
    assert [w.code for w in verdict.warnings] == ["console_error"]
    assert "cart widget broke" in verdict.warnings[0].detail


def test_a_page_that_never_finishes_loading_ends_in_a_verdict_within_the_timeout(web, check):
    shop = web(SHOP)
    shop.default = Reply(mode="hang")

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port), timeout=3)

    assert (verdict.status, verdict.cause) == ("down", "http_timeout")


def test_a_page_whose_server_refuses_is_tcp_refused(check, free_port):
    verdict = check(f"browser+http://127.0.0.1:{free_port}/")
    assert (verdict.status, verdict.cause) == ("down", "tcp_refused")


def test_without_playwright_the_verdict_says_how_to_install_it(web, check, monkeypatch):
    shop = web(SHOP)
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)  # import fails as if not installed

    verdict = check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port))

    assert (verdict.status, verdict.cause) == ("down", "browser_unavailable")
    assert "pip install 'ronda[browser]'" in verdict.summary


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("net::ERR_NAME_NOT_RESOLVED", "dns_nxdomain"),
        ("net::ERR_CONNECTION_REFUSED", "tcp_refused"),
        ("net::ERR_CERT_DATE_INVALID", "cert_expired"),
        ("net::ERR_CERT_AUTHORITY_INVALID", "cert_untrusted"),
        ("net::ERR_CERT_SOMETHING_NEW", "cert_untrusted"),
        ("net::ERR_EMPTY_RESPONSE", "protocol_error"),
    ],
)
def test_chromiums_network_errors_read_as_ronda_causes(error, code):
    assert cause_of(error) == code


def chromiums() -> set[int]:
    """The Chromium browsers this test process started (its descendants), by pid: each
    browser's main process, not its renderers and helpers (a page gets a renderer of its own)."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                commands[int(entry)] = cmdline.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])

    def mine(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    def chromium(pid: int) -> bool:
        return "chrom" in commands.get(pid, "")

    return {pid for pid in commands if chromium(pid) and not chromium(parents[pid]) and mine(pid)}


def test_a_one_shot_check_leaves_no_browser_running(web, check):
    shop = web(SHOP)
    page(shop, "<h1>Shop</h1>")

    assert check(f"browser+http://shop.test:{shop.port}/", resolve=names(shop.port)).status == "up"

    assert chromiums() == set()


def test_a_long_lived_process_keeps_one_browser_between_checks_and_closes_it_when_it_stops(web, ca_file):
    shop = web(SHOP)
    page(shop, "<h1>Shop</h1>")
    target = parse_target(f"browser+http://shop.test:{shop.port}/")
    options = CheckOptions(resolve=names(shop.port), ca_file=ca_file)

    async def checks_in_a_long_lived_loop() -> tuple[set[int], set[int], set[int]]:
        async with BROWSERS.kept_open():
            assert (await run_check(target, options)).status == "up"
            first = chromiums()
            assert (await run_check(target, options)).status == "up"
            second = chromiums()
        return first, second, chromiums()

    first, second, after = asyncio.run(checks_in_a_long_lived_loop())

    assert first and second == first  # the same Chromium served both checks
    assert after == set()


def test_a_kept_browser_closes_once_it_has_been_idle(web, ca_file):
    shop = web(SHOP)
    page(shop, "<h1>Shop</h1>")
    target = parse_target(f"browser+http://shop.test:{shop.port}/")
    options = CheckOptions(resolve=names(shop.port), ca_file=ca_file)

    async def idle_after_one_check() -> tuple[set[int], set[int]]:
        async with BROWSERS.kept_open(idle=0.2):
            await run_check(target, options)
            used = chromiums()
            while chromiums():  # closed on its own, long before the process stops
                await asyncio.sleep(0.1)
            return used, chromiums()

    used, idle = asyncio.run(asyncio.wait_for(idle_after_one_check(), 30))

    assert used and idle == set()


def test_browser_true_on_an_https_monitor_checks_it_as_browser_https_does(web, pki, ca_file):
    """`browser: true` in the config: the same monitor, loaded as its users' browsers load it."""
    from ronda.config.schema import parse_monitor
    from ronda.node.runner import check_options

    shop = web(SHOP, tls=pki.server_context("shop.test"))
    images = web(IMAGES, port=shop.port, tls=expired(pki, "img.shop.test"))
    page(shop, loads_with_script(f"https://img.shop.test:{shop.port}/logo.png"))
    images.routes["/logo.png"] = image()
    spec = {
        "name": "shop",
        "url": f"https://shop.test:{shop.port}/",
        "browser": True,
        "ca_file": ca_file,
        "timeout": "10s",
        "resolve": {f"shop.test:{shop.port}": [SHOP], f"img.shop.test:{shop.port}": [IMAGES]},
    }
    monitor = parse_monitor(spec)
    verdict = asyncio.run(run_check(parse_target(monitor.target_url()), check_options(monitor, {})))
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    assert verdict.target == f"browser+https://shop.test:{shop.port}/"
    with pytest.raises(ValueError, match=r"browser: true goes with an http:// or https:// url"):
        parse_monitor({"name": "db", "url": "tcp://db.test:5432", "browser": True})
    with pytest.raises(ValueError, match=r"subresources .* cannot go with it"):
        parse_monitor(spec | {"subresources": True})
