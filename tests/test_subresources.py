"""ronda check --subresources against real loopback servers: a page that works while a host
serving its images, scripts or stylesheets fails is degraded, and the verdict names that host.

Every server listens on the same port at its own loopback address; `resolve=` maps each name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ronda.target import CheckOptions
from ronda.world.web import Reply, WebServer

SHOP = "127.0.0.2"


def names(port: int, **addresses: str | tuple[str, ...]) -> dict[tuple[str, int], tuple[str, ...]]:
    """resolve= for shop.test and the given names (dots written as underscores) at `port`."""
    table: dict[tuple[str, int], tuple[str, ...]] = {("shop.test", port): (SHOP,)}
    for name, address in addresses.items():
        table[(name.replace("_", "."), port)] = (address,) if isinstance(address, str) else address
    return table


def page(server: WebServer, html: str) -> None:
    server.default = Reply(body=f"<!doctype html><html><body>{html}</body></html>".encode())


def asset(body: bytes = b"\x89PNG...", content_type: str = "image/png", status: int = 200) -> Reply:
    return Reply(status=status, body=body, headers={"Content-Type": content_type})


def expired(pki, name: str):
    now = datetime.now(UTC)
    return pki.server_context(name, valid_from=now - timedelta(days=92), valid_until=now - timedelta(days=2))


def test_an_image_host_with_an_expired_certificate_degrades_the_page_and_is_named(web, pki, check):
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    images = web("127.0.0.3", port=shop.port, tls=expired(pki, "img.shop.test"))
    logo = f"https://img.shop.test:{shop.port}/logo.png"
    page(shop, f'<h1>Welcome</h1><img src="{logo}">')
    images.routes["/logo.png"] = asset()

    verdict = check(
        f"https://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.3"), subresources=True
    )

    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert finding.code == "subresource_failed"
    assert (finding.host, finding.port, finding.address) == ("img.shop.test", shop.port, None)
    assert finding.detail.startswith(f"img.shop.test:{shop.port}: cert_expired: ")
    assert "expired 2.0 days ago" in finding.detail
    assert verdict.summary == finding.detail
    assert verdict.http is not None
    assert verdict.http["status"] == 200
    assert verdict.http["subresources"] == [
        {"host": "img.shop.test", "url": logo, "status": "down", "cause": "cert_expired"}
    ]
    [image_cert] = [c for c in verdict.certificates if c.host == "img.shop.test"]
    assert image_cert.address == "127.0.0.3" and image_cert.problems == ("cert_expired",)
    assert {c.host for c in verdict.certificates} == {"shop.test", "img.shop.test"}


def test_an_asset_host_that_refuses_connections_is_named_with_tcp_refused(web, check):
    shop = web(SHOP)
    page(shop, f'<script src="http://cdn.shop.test:{shop.port}/app.js"></script>')
    # Nothing listens at 127.0.0.66.
    verdict = check(
        f"http://shop.test:{shop.port}/", resolve=names(shop.port, cdn_shop_test="127.0.0.66"), subresources=True
    )
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert finding.host == "cdn.shop.test"
    assert "tcp_refused" in finding.detail
    assert verdict.http is not None
    assert verdict.http["subresources"][0]["cause"] == "tcp_refused"


def test_an_asset_missing_on_its_host_is_a_client_error_of_that_host(web, check):
    shop = web(SHOP)
    images = web("127.0.0.3", port=shop.port)
    missing = f"http://img.shop.test:{shop.port}/gone.png"
    page(shop, f'<img src="{missing}"><img src="http://img.shop.test:{shop.port}/there.png">')
    images.routes["/gone.png"] = asset(b"not found", "text/plain", status=404)
    images.routes["/there.png"] = asset()

    verdict = check(
        f"http://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.3"), subresources=True
    )

    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert "http_client_error" in finding.detail and "404" in finding.detail and missing in finding.detail
    assert images.requests == 1  # one GET per host: the first asset seen there


def test_an_asset_host_whose_name_does_not_resolve_is_named_with_dns_nxdomain(web, dns_server, check):
    shop = web(SHOP)
    page(shop, f'<img src="http://img.shop.test:{shop.port}/logo.png">')
    verdict = check(
        f"http://shop.test:{shop.port}/",
        resolve=names(shop.port),
        nameserver=("127.0.0.1", dns_server.port),
        subresources=True,
    )
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert finding.host == "img.shop.test"
    assert "dns_nxdomain" in finding.detail and "img.shop.test does not exist" in finding.detail


def test_an_asset_host_failing_at_one_of_its_addresses_is_named_with_how_many_fail(web, check):
    shop = web(SHOP)
    images = web("127.0.0.3", port=shop.port)
    images.routes["/logo.png"] = asset()
    page(shop, f'<img src="http://img.shop.test:{shop.port}/logo.png">')
    resolve = names(shop.port, img_shop_test=("127.0.0.3", "127.0.0.66"))
    verdict = check(f"http://shop.test:{shop.port}/", resolve=resolve, subresources=True)
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    [finding] = verdict.findings
    assert "tcp_refused" in finding.detail and "(1 of 2 addresses fail)" in finding.detail
    assert verdict.http is not None
    assert verdict.http["subresources"][0]["status"] == "degraded"


def test_stylesheets_are_read_for_one_level_of_imports_and_urls(web, pki, check):
    """The page links site.css (css host), which @imports fonts.css (fonts host) and sets a
    background from the bg host; fonts.css points at a fourth host, one level too deep."""
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    port = shop.port
    css = web("127.0.0.3", port=port, tls=pki.server_context("css.shop.test"))
    fonts = web("127.0.0.4", port=port, tls=pki.server_context("fonts.shop.test"))
    backgrounds = web("127.0.0.5", port=port, tls=pki.server_context("bg.shop.test"))
    files = web("127.0.0.6", port=port, tls=pki.server_context("files.shop.test"))
    page(shop, f'<link rel="stylesheet" href="https://css.shop.test:{port}/site.css">')
    site_css = (
        f"@import url(https://fonts.shop.test:{port}/fonts.css);"
        f"body {{ background: url('https://bg.shop.test:{port}/bg.png') }}"
    )
    css.routes["/site.css"] = asset(site_css.encode(), "text/css")
    fonts.routes["/fonts.css"] = asset(
        f"@font-face {{ src: url(https://files.shop.test:{port}/f.woff2) }}".encode(), "text/css"
    )
    backgrounds.routes["/bg.png"] = asset()

    resolve = names(
        port,
        css_shop_test="127.0.0.3",
        fonts_shop_test="127.0.0.4",
        bg_shop_test="127.0.0.5",
        files_shop_test="127.0.0.6",
    )
    verdict = check(f"https://shop.test:{port}/", resolve=resolve, subresources=True)

    assert verdict.status == "up", verdict.summary
    assert verdict.http is not None
    assert [(s["host"], s["url"], s["status"]) for s in verdict.http["subresources"]] == [
        ("css.shop.test", f"https://css.shop.test:{port}/site.css", "up"),
        ("fonts.shop.test", f"https://fonts.shop.test:{port}/fonts.css", "up"),
        ("bg.shop.test", f"https://bg.shop.test:{port}/bg.png", "up"),
    ]
    assert css.requests == 1  # the host's check is also the stylesheet's one fetch
    assert (fonts.requests, backgrounds.requests) == (1, 1)
    assert files.requests == 0
    assert {c.host for c in verdict.certificates} == {"shop.test", "css.shop.test", "fonts.shop.test", "bg.shop.test"}


def test_a_failing_host_found_only_in_a_stylesheet_degrades_the_page(web, check):
    shop = web(SHOP)
    page(shop, '<link rel="stylesheet" href="/site.css">')
    shop.routes["/site.css"] = asset(
        f".hero {{ background: url(//img.shop.test:{shop.port}/hero.jpg) }}".encode(), "text/css"
    )
    verdict = check(
        f"http://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.66"), subresources=True
    )
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    assert verdict.findings[0].host == "img.shop.test"
    assert shop.requests == 2  # the page, then its stylesheet


def test_a_page_whose_asset_hosts_all_work_is_up_and_lists_them(web, pki, check):
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    images = web("127.0.0.3", port=shop.port, tls=pki.server_context("img.shop.test"))
    scripts = web("127.0.0.4", port=shop.port)
    images.routes["/a.png"] = asset()
    page(
        shop,
        f'<img src="https://img.shop.test:{shop.port}/a.png" srcset="https://img.shop.test:{shop.port}/b.png 2x">'
        f'<script src="http://js.shop.test:{shop.port}/app.js"></script><img src="/own.png">',
    )
    resolve = names(shop.port, img_shop_test="127.0.0.3", js_shop_test="127.0.0.4")

    verdict = check(f"https://shop.test:{shop.port}/", resolve=resolve, subresources=True)

    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert verdict.findings == ()
    assert verdict.to_json()["http"]["subresources"] == [
        {"host": "img.shop.test", "url": f"https://img.shop.test:{shop.port}/a.png", "status": "up", "cause": None},
        {"host": "js.shop.test", "url": f"http://js.shop.test:{shop.port}/app.js", "status": "up", "cause": None},
    ]
    assert verdict.to_json()["http"]["subresources_skipped"] == 0
    assert (images.requests, scripts.requests) == (1, 1)
    assert shop.requests == 1  # the page's own host is checked by the page, not again


def test_an_asset_certificate_about_to_expire_is_a_warning_naming_its_host(web, pki, check):
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    now = datetime.now(UTC)
    web(
        "127.0.0.3",
        port=shop.port,
        tls=pki.server_context(
            "img.shop.test", valid_from=now - timedelta(days=85), valid_until=now + timedelta(days=5)
        ),
    )
    page(shop, f'<img src="https://img.shop.test:{shop.port}/a.png">')
    verdict = check(
        f"https://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.3"), subresources=True
    )
    assert verdict.status == "up"
    assert "cert_expiring" in {w.code for w in verdict.warnings}
    assert {w.host for w in verdict.warnings} == {"img.shop.test"}


def test_without_subresources_nothing_else_is_fetched(web, pki, check):
    shop = web(SHOP, tls=pki.server_context("shop.test"))
    images = web("127.0.0.3", port=shop.port, tls=expired(pki, "img.shop.test"))
    page(shop, f'<img src="https://img.shop.test:{shop.port}/logo.png">')
    verdict = check(f"https://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.3"))
    assert verdict.status == "up"
    assert verdict.http is not None and "subresources" not in verdict.http
    assert images.requests == 0
    assert {c.host for c in verdict.certificates} == {"shop.test"}


def test_a_page_that_is_not_html_has_no_subresources_checked(web, check):
    shop = web(SHOP)
    images = web("127.0.0.3", port=shop.port)
    shop.default = asset(f'{{"logo": "http://img.shop.test:{shop.port}/a.png"}}'.encode(), "application/json")
    verdict = check(
        f"http://shop.test:{shop.port}/", resolve=names(shop.port, img_shop_test="127.0.0.3"), subresources=True
    )
    assert verdict.status == "up"
    assert images.requests == 0


CAP = CheckOptions().subresource_hosts


def test_at_most_the_cap_of_asset_hosts_are_checked_and_the_rest_are_a_warning(web, check):
    shop = web(SHOP)
    assets = web("127.0.0.3", port=shop.port)  # every asset name resolves here
    count = CAP + 5
    page(shop, "".join(f'<img src="http://a{i}.shop.test:{shop.port}/x.png">' for i in range(count)))
    resolve = names(shop.port, **{f"a{i}_shop_test": "127.0.0.3" for i in range(count)})

    verdict = check(f"http://shop.test:{shop.port}/", resolve=resolve, subresources=True)

    assert verdict.status == "up"
    assert verdict.http is not None
    checked = verdict.http["subresources"]
    assert [s["host"] for s in checked] == [f"a{i}.shop.test" for i in range(CAP)]
    assert verdict.http["subresources_skipped"] == 5
    assert assets.requests == CAP
    [skipped] = [w for w in verdict.warnings if w.code == "subresource_hosts_skipped"]
    assert f"5 of the page's {count} asset hosts were not checked" in skipped.detail


def test_a_higher_cap_checks_every_asset_host(web, check):
    shop = web(SHOP)
    assets = web("127.0.0.3", port=shop.port)
    count = CAP + 5
    page(shop, "".join(f'<img src="http://a{i}.shop.test:{shop.port}/x.png">' for i in range(count)))
    resolve = names(shop.port, **{f"a{i}_shop_test": "127.0.0.3" for i in range(count)})

    verdict = check(f"http://shop.test:{shop.port}/", resolve=resolve, subresources=True, subresource_hosts=count)

    assert verdict.http is not None and verdict.http["subresources_skipped"] == 0
    assert assets.requests == count
    assert verdict.warnings == ()


def test_an_asset_host_that_never_answers_times_out_inside_the_page_budget(web, check):
    shop = web(SHOP)
    stuck = web("127.0.0.3", port=shop.port)
    stuck.default = Reply(mode="hang")
    page(shop, f'<img src="http://img.shop.test:{shop.port}/a.png">')
    resolve = names(shop.port, img_shop_test="127.0.0.3")
    verdict = check(f"http://shop.test:{shop.port}/", resolve=resolve, subresources=True, timeout=1.0)
    assert (verdict.status, verdict.cause) == ("degraded", "subresource_failed")
    assert "http_timeout" in verdict.findings[0].detail
    assert verdict.http is not None and verdict.http["status"] == 200
