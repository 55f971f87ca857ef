"""Where monitors added through the API may go (ronda/reach.py): with
`server.allow_private_targets: false` no check of theirs reaches a loopback, private,
link-local or metadata address, judged after resolution at every check; with
`server.file_roots` their files lie in the folders named, or nowhere. The config file's
monitors and `ronda check` are the operator's and go anywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ronda.reach import Reach, non_public
from ronda.world.web import Reply, WebServer
from tests.support import RondaProcess, config_error, config_text, free_port, wait_for

NO_PRIVATE = Reach(private=False)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("10.1.2.3", "a private address"),
        ("172.16.0.1", "a private address"),
        ("192.168.1.1", "a private address"),
        ("169.254.169.254", "a cloud metadata service"),
        ("fd00:ec2::254", "a cloud metadata service"),
        ("169.254.1.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("fe80::1%eth0", "a link-local address"),
        ("100.64.0.1", "a carrier-grade NAT (shared) address"),
        ("fd12:3456::1", "a unique-local address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("::ffff:127.0.0.1", "a loopback address (inside the IPv6 address)"),
        ("::ffff:169.254.169.254", "a cloud metadata service (inside the IPv6 address)"),
        ("2002:a00:1::1", "a private address (inside the IPv6 address)"),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "a cloud metadata service (inside the IPv6 address)"),  # NAT64
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("shop.example", None),  # a name is judged once it resolves
    ],
)
def test_each_kind_of_address_off_the_internet_is_named(address, kind):
    assert non_public(address) == kind


def test_file_roots_allow_their_folders_only_links_followed(tmp_path):
    allowed, secret = tmp_path / "certs", tmp_path / "home"
    allowed.mkdir()
    secret.mkdir()
    (secret / "key.pem").write_text("secret")
    (allowed / "link.pem").symlink_to(secret / "key.pem")
    reach = Reach(file_roots=(str(allowed),))
    assert reach.refused_path(str(allowed / "site.pem")) is None
    assert reach.refused_path(str(allowed)) is None
    assert reach.refused_path(str(tmp_path / "certs-other" / "x.pem")) is not None  # a prefix is no folder
    assert reach.refused_path(str(allowed / ".." / "home" / "key.pem")) == (
        f"{allowed}/../home/key.pem (it leads to {secret}/key.pem) is outside server.file_roots ({allowed})"
    )
    assert reach.refused_path(str(allowed / "link.pem")) == (
        f"{allowed}/link.pem (it leads to {secret}/key.pem) is outside server.file_roots ({allowed})"
    )
    assert Reach(file_roots=()).refused_path("/etc/ssl/certs") == (
        "/etc/ssl/certs: monitors added through the API may use no files (server.file_roots is empty)"
    )
    assert Reach().refused_path("/root") is None  # the operator's own checks


# -- at check time, after resolution ---------------------------------------------------------


def test_a_name_resolving_to_the_metadata_service_is_refused_unchecked(dns_server, check):
    dns_server.zone.set("metadata.test", "A", "169.254.169.254")
    verdict = check(
        "http://metadata.test/latest/meta-data/", nameserver=("127.0.0.1", dns_server.port), reach=NO_PRIVATE
    )
    assert (verdict.status, verdict.cause) == ("down", "target_not_allowed")
    assert verdict.findings[0].detail == (
        "metadata.test resolves to 169.254.169.254: 169.254.169.254 is a cloud metadata service, "
        "and server.allow_private_targets is false"
    )


def test_a_name_resolving_to_loopback_is_refused_and_nothing_is_sent(dns_server, check, web):
    site = web()
    dns_server.zone.set("inside.test", "A", "127.0.0.1")
    url = f"http://inside.test:{site.port}/"
    nameserver = ("127.0.0.1", dns_server.port)
    verdict = check(url, nameserver=nameserver, reach=NO_PRIVATE)
    assert (verdict.status, verdict.cause) == ("down", "target_not_allowed")
    assert "inside.test resolves to 127.0.0.1: 127.0.0.1 is a loopback address" in verdict.summary
    assert site.requests == 0
    assert check(url, nameserver=nameserver).status == "up"  # the operator's own check goes there
    assert site.requests == 1


def test_an_address_pinned_with_resolve_or_written_whole_is_refused_too(check, web):
    site = web()
    pinned = check(
        f"http://shop.test:{site.port}/", resolve={("shop.test", site.port): ("127.0.0.1",)}, reach=NO_PRIVATE
    )
    whole = check(f"tcp://127.0.0.1:{site.port}", reach=NO_PRIVATE)
    assert (pinned.cause, whole.cause) == ("target_not_allowed", "target_not_allowed")
    assert whole.findings[0].detail == "127.0.0.1 is a loopback address, and server.allow_private_targets is false"
    assert site.requests == 0


def test_a_dns_checks_own_server_must_be_public(dns_server, check):
    dns_server.zone.set("shop.test", "A", "192.0.2.1")
    verdict = check(f"dns://shop.test?type=TXT&server=127.0.0.1:{dns_server.port}", reach=NO_PRIVATE)
    assert verdict.cause == "target_not_allowed"
    assert verdict.findings[0].detail.startswith("the DNS server 127.0.0.1: 127.0.0.1 is a loopback address")


def test_a_file_outside_the_roots_is_refused_at_each_check(tmp_path, check):
    (tmp_path / "notes.txt").write_text("private")
    verdict = check(f"file://{tmp_path}/notes.txt", reach=Reach(file_roots=()))
    assert (verdict.status, verdict.cause) == ("down", "target_not_allowed")
    assert "private" not in str(verdict.to_json())


# -- through the API of a running ronda -------------------------------------------------------


@pytest.fixture
def narrow(tmp_path: Path, ca_file: str, web: Callable[..., WebServer], dns_server: Any) -> Iterator[RondaProcess]:
    """ronda with allow_private_targets false and one allowed folder; the config's own monitor
    at 127.0.0.1 and its resolver on loopback, as an operator may well have them."""
    (tmp_path / "certs").mkdir()
    home = f"  - name: home\n    url: {web().url()}\n"
    text = config_text(free_port(), ca_file, home)
    text = text.replace(
        "  token: ${RONDA_TOKEN}\n",
        f"  token: ${{RONDA_TOKEN}}\n  allow_private_targets: false\n  file_roots: [{tmp_path / 'certs'}]\n",
    )
    text = text.replace("  ca_file:", f"  nameserver: 127.0.0.1:{dns_server.port}\n  ca_file:")
    path = tmp_path / "ronda.yaml"
    path.write_text(text)
    process = RondaProcess(path).start()
    yield process
    code, output = process.stop()
    assert code == 0, output


def problems(answer: Any) -> list[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    return [(p["loc"][-1], p["msg"]) for p in answer.json()["detail"]]


def test_the_api_refuses_private_addresses_and_files_beyond_the_roots(narrow, tmp_path):
    certs = tmp_path / "certs"
    (certs / "site.pem").write_text("not a certificate")
    (tmp_path / "secret.pem").write_text("x")
    refusals = {
        "http://127.0.0.1:8080/": ("url", "127.0.0.1 is a loopback address, and server.allow_private_targets is false"),
        "http://[fd00:ec2::254]/": (
            "url",
            "fd00:ec2::254 is a cloud metadata service, and server.allow_private_targets is false",
        ),
        f"file://{tmp_path}/secret.pem": ("url", f"{tmp_path}/secret.pem is outside server.file_roots ({certs})"),
        f"file://{tmp_path}/missing.pem": ("url", f"{tmp_path}/missing.pem is outside server.file_roots ({certs})"),
    }
    for url, problem in refusals.items():
        assert problems(narrow.send("POST", "/api/v1/monitors", {"name": "x", "url": url})) == [problem], url
    pinned = {"name": "x", "url": "https://shop.test/", "resolve": {"shop.test:443": ["10.0.0.5"]}}
    assert problems(narrow.send("POST", "/api/v1/monitors", pinned)) == [
        ("resolve", "10.0.0.5 is a private address, and server.allow_private_targets is false")
    ]
    own_server = {"name": "x", "url": "https://shop.test/", "nameserver": "169.254.169.253"}
    assert problems(narrow.send("POST", "/api/v1/monitors", own_server))[0][0] == "nameserver"
    outside_ca = {"name": "x", "url": "https://shop.test/", "ca_file": str(tmp_path / "nowhere.pem")}
    # Refused for where it is, not for being missing: whether a file exists is not the caller's to learn.
    assert problems(narrow.send("POST", "/api/v1/monitors", outside_ca)) == [
        ("ca_file", f"{tmp_path}/nowhere.pem is outside server.file_roots ({certs})")
    ]
    missing_inside = {"name": "x", "url": "https://shop.test/", "ca_file": str(certs / "none.pem")}
    assert problems(narrow.send("POST", "/api/v1/monitors", missing_inside)) == [
        ("ca_file", f"no such file: {certs}/none.pem")
    ]
    inside = narrow.send("POST", "/api/v1/monitors", {"name": "certs", "url": f"file://{certs}/site.pem"})
    assert inside.status_code == 201, inside.text


def test_an_api_monitor_whose_name_resolves_inside_is_down_while_the_configs_own_is_up(narrow, dns_server, web):
    site = web()
    dns_server.zone.set("inside.test", "A", "127.0.0.1")
    dns_server.zone.set("metadata.test", "A", "169.254.169.254")
    for name in ("inside", "metadata"):
        body = {"name": name, "url": f"http://{name}.test:{site.port}/", "interval": "200ms"}
        assert narrow.send("POST", "/api/v1/monitors", body).status_code == 201
    latest = wait_for(
        "both checked",
        lambda: (
            all(narrow.api(f"/api/v1/monitors/{n}/results?limit=1") for n in ("inside", "metadata"))
            and {n: narrow.api(f"/api/v1/monitors/{n}/results?limit=1")[0] for n in ("inside", "metadata")}
        ),
    )
    assert {n: (v["status"], v["cause"]) for n, v in latest.items()} == {
        "inside": ("down", "target_not_allowed"),
        "metadata": ("down", "target_not_allowed"),
    }
    assert "metadata.test resolves to 169.254.169.254" in latest["metadata"]["summary"]
    assert site.requests == 0
    home = wait_for("the config's own monitor checked", lambda: narrow.api("/api/v1/monitors/home/results?limit=1"))
    assert home[0]["status"] == "up"


def test_a_redirect_to_a_private_address_is_refused_and_not_followed(web, check):
    """The first hop is in an allowed network, the redirect leads to another private address."""
    there = web("127.0.0.3")
    start = web("127.0.0.2")
    start.routes["/"] = Reply(status=302, headers={"Location": there.url("/admin")})
    reach = Reach(private=False, allowed=("127.0.0.2/32",))
    verdict = check(start.url(), reach=reach)
    assert (verdict.status, verdict.cause) == ("down", "target_not_allowed")
    assert verdict.findings[0].detail == (
        f"redirect to {there.url('/admin')}: 127.0.0.3 is a loopback address, and server.allow_private_targets is false"
    )
    assert (start.requests, there.requests) == (1, 0)
    assert check(start.url()).status == "up" and there.requests == 1  # the operator's own check follows it


def test_allowed_private_networks_must_be_networks(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text("server:\n  allow_private_targets: false\n  allowed_private_networks: [10.20.0.0/16, office]\n")
    assert "server.allowed_private_networks" in config_error(str(path))
    assert "'office' is not a network such as 10.20.0.0/16" in config_error(str(path))
