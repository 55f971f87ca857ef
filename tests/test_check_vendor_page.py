"""statuspage+https:// and `kind: statuspage`: a vendor's own status page, served by real
loopback web servers in the shapes vendors publish (Statuspage's summary.json, RSS and Atom
incident feeds), read as a user of `ronda check` and `ronda run` sees it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ronda.config.load import load_config
from ronda.node.runner import job_for
from ronda.world.web import Reply, WebServer
from tests.support import RondaProcess, config_error, config_text, free_port, wait_for

JSON = {"Content-Type": "application/json"}
NOW = datetime.now(UTC)


def component(name: str, status: str = "operational", **more: Any) -> dict[str, Any]:
    return {
        "id": name.lower().replace(" ", "-"),
        "name": name,
        "status": status,
        "group_id": None,
        "group": False,
    } | more


def incident(
    name: str, status: str = "investigating", impact: str = "minor", on: tuple[str, ...] = ()
) -> dict[str, Any]:
    return {
        "id": name[:8],
        "name": name,
        "status": status,
        "impact": impact,
        "shortlink": f"https://stspg.example/{name[:4]}",
        "updated_at": "2026-11-24T12:00:00.000Z",
        "components": [component(n) for n in on],
    }


def summary(
    indicator: str = "none",
    description: str = "All Systems Operational",
    components: list[dict[str, Any]] | None = None,
    incidents: list[dict[str, Any]] | None = None,
    maintenances: list[dict[str, Any]] | None = None,
) -> Reply:
    """A Statuspage summary.json (API v2) as a Reply."""
    document = {
        "page": {"id": "acme", "name": "Acme", "url": "https://status.acme.example", "time_zone": "Etc/UTC"},
        "status": {"indicator": indicator, "description": description},
        "components": components if components is not None else [component("CDN"), component("API")],
        "incidents": incidents or [],
        "scheduled_maintenances": maintenances or [],
    }
    return Reply(body=json.dumps(document).encode(), headers=JSON)


def vendor(web: Callable[..., WebServer], reply: Reply, path: str = "/api/v2/summary.json", **kwargs: Any) -> WebServer:
    """A vendor's status host: `reply` at `path`, 404 everywhere else (so a wrong path shows)."""
    server = web(**kwargs)
    server.default = Reply(status=404, body=b"not here")
    server.routes[path] = reply
    return server


def page_url(server: WebServer, rest: str = "/") -> str:
    return f"statuspage+http://127.0.0.1:{server.port}{rest}"


def test_an_operational_page_is_up_read_over_https_from_its_base_url(web, pki, check):
    server = vendor(web, summary(), tls=pki.server_context("status.acme.test"))
    verdict = check(
        f"statuspage+https://status.acme.test:{server.port}/",
        resolve={("status.acme.test", server.port): ("127.0.0.1",)},
    )
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert "the vendor reports All Systems Operational" in verdict.summary
    page = verdict.statuspage
    assert page is not None
    assert page["url"] == f"https://status.acme.test:{server.port}/api/v2/summary.json"
    assert (page["page"], page["indicator"], page["components"], page["incidents"]) == ("Acme", "none", [], [])
    # The status host's certificate is analysed as any https:// target's.
    [cert] = verdict.certificates
    assert cert.host == "status.acme.test" and cert.days_left > 80


def test_a_minor_incident_is_degraded_and_named(web, check):
    server = vendor(
        web,
        summary(
            "minor",
            "Minor Service Outage",
            [component("CDN (Europe)", "degraded_performance"), component("API")],
            [incident("Elevated error rates", on=("CDN (Europe)",))],
        ),
    )
    verdict = check(page_url(server))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == (
        "Acme status page: Minor Service Outage – CDN (Europe) degraded performance; "
        "incident 'Elevated error rates' (investigating)"
    )
    [finding] = verdict.findings
    assert finding.to_json()["severity"] == "degraded"
    page = verdict.statuspage
    assert page is not None
    assert page["components"] == [{"name": "CDN (Europe)", "status": "degraded_performance"}]
    assert page["incidents"] == [
        {
            "name": "Elevated error rates",
            "status": "investigating",
            "impact": "minor",
            "link": "https://stspg.example/Elev",
            "updated_at": "2026-11-24T12:00:00Z",
        }
    ]


def test_a_hostile_pages_texts_and_lists_are_bounded(web, check):
    many = [component(f"Edge {i}", "partial_outage") for i in range(400)]
    name = "Errors\u202e\x07 " + "x" * 1000  # a bidi override, a bell, and far too long
    server = vendor(web, summary("major", "Partial System Outage", many, [incident(name)]))
    verdict = check(page_url(server))
    page = verdict.statuspage
    assert page is not None
    assert len(page["components"]) == 25 and page["truncated"] is True
    [listed] = page["incidents"]
    assert listed["name"].startswith("Errors x") and len(listed["name"]) == 200
    assert "Edge 0 partial outage, Edge 1 partial outage, Edge 2 partial outage and 397 more" in verdict.summary
    assert len(verdict.summary) < 400


def test_a_major_outage_of_the_watched_component_is_down_of_one_among_many_degraded(web, check):
    server = vendor(
        web,
        summary(
            "major",
            "Partial System Outage",
            [component("CDN", "major_outage"), component("API"), component("Billing")],
            [incident("CDN unreachable", "identified", "critical", on=("CDN",))],
        ),
    )
    watched = check(page_url(server, "/?component=cdn"))
    assert (watched.status, watched.cause) == ("down", "vendor_reported")
    assert watched.summary.startswith("Acme status page: Major outage – CDN major outage; incident 'CDN unreachable'")
    # The whole page: one component out among three, the vendor's own "partial" - degraded,
    # as a name with one failing address of three is.
    whole = vendor(
        web,
        summary(
            "major", "Partial System Outage", [component("CDN", "major_outage"), component("API"), component("Billing")]
        ),
    )
    verdict = check(page_url(whole))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme status page: Partial System Outage – CDN major outage"


def test_the_page_in_a_critical_state_is_down(web, check):
    server = vendor(
        web,
        summary(
            "critical", "Major System Outage", [component("CDN", "major_outage"), component("API", "major_outage")]
        ),
    )
    verdict = check(page_url(server))
    assert (verdict.status, verdict.cause) == ("down", "vendor_reported")
    assert "Major System Outage" in verdict.summary


def test_a_component_filter_ignores_what_one_does_not_depend_on(web, check):
    server = vendor(
        web,
        summary(
            "minor",
            "Minor Service Outage",
            [component("CDN"), component("API"), component("Video", "partial_outage")],
            [incident("Video uploads failing", on=("Video",)), incident("Scheduled notice", impact="none")],
        ),
    )
    verdict = check(page_url(server, "/?component=CDN&component=API"))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert "the vendor reports CDN, API operational" in verdict.summary
    page = verdict.statuspage
    assert page is not None
    assert (page["watched"], page["components"], page["incidents"]) == (["CDN", "API"], [], [])
    # Without the filter the same page is degraded: the filter made the difference.
    assert check(page_url(server)).status == "degraded"


def test_a_group_name_watches_its_members(web, check):
    group = component("CDN", group=True, components=["cdn-eu", "cdn-us"])
    members = [
        component("CDN EU", "partial_outage", id="cdn-eu", group_id="cdn"),
        component("CDN US", id="cdn-us", group_id="cdn"),
    ]
    server = vendor(web, summary("major", "Partial System Outage", [group, *members, component("API")]))
    verdict = check(page_url(server, "/?component=CDN"))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme status page: Partial outage – CDN EU partial outage"


def test_a_watched_component_the_page_does_not_have_is_named(web, check):
    server = vendor(web, summary())
    verdict = check(page_url(server, "/?component=CDM"))
    assert (verdict.status, verdict.cause) == ("down", "content_mismatch")
    assert "the page has no component named 'CDM' (it has API, CDN)" in verdict.summary


def test_maintenance_in_progress_is_planned_not_a_failure(web, check):
    maintenance = incident("Database upgrade", "in_progress", "maintenance", on=("API",))
    server = vendor(
        web,
        summary("maintenance", "Service Under Maintenance", [component("CDN"), component("API", "under_maintenance")],
                maintenances=[maintenance]),
    )  # fmt: skip
    verdict = check(page_url(server))
    assert verdict.status == "up", verdict.summary
    assert "maintenance 'Database upgrade' in progress" in verdict.summary
    page = verdict.statuspage
    assert page is not None
    assert page["components"] == [{"name": "API", "status": "under_maintenance"}]
    assert [m["name"] for m in page["maintenances"]] == ["Database upgrade"]


def test_incidents_json_counts_only_unresolved_incidents(web, check):
    incidents = [incident("Yesterday's outage", "resolved", "major"), incident("Login errors", "monitoring")]
    body = json.dumps({"page": {"name": "Acme"}, "incidents": incidents}).encode()
    server = vendor(web, Reply(body=body, headers=JSON), path="/api/v2/incidents.json")
    verdict = check(page_url(server, "/api/v2/incidents.json"))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme status page: incident 'Login errors' (monitoring)"


def atom(*entries: tuple[str, str, datetime]) -> Reply:
    """A Statuspage-like history.atom: (title, newest update first as HTML, updated)."""
    items = "".join(
        f"<entry><id>tag:status.acme.example,2026:Incident/{i}</id><title>{title}</title>"
        f"<updated>{updated.isoformat()}</updated><published>{updated.isoformat()}</published>"
        f'<link rel="alternate" type="text/html" href="https://status.acme.example/incidents/{i}"/>'
        f'<content type="html">{content}</content></entry>'
        for i, (title, content, updated) in enumerate(entries)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><feed xml:lang="en-US" xmlns="http://www.w3.org/2005/Atom">'
        f"<id>tag:status.acme.example,2026:/history</id><title>Acme Status - Incident History</title>"
        f"<updated>{NOW.isoformat()}</updated>{items}</feed>"
    )
    return Reply(body=body.encode(), headers={"Content-Type": "application/atom+xml"})


INVESTIGATING = "&lt;p&gt;&lt;strong&gt;Investigating&lt;/strong&gt; - We are looking into errors.&lt;/p&gt;"
RESOLVED = "&lt;p&gt;&lt;strong&gt;Resolved&lt;/strong&gt; - This incident has been resolved.&lt;/p&gt;" + INVESTIGATING


def test_an_atom_feed_with_an_open_incident_is_degraded_with_its_title(web, check):
    server = vendor(
        web,
        atom(
            ("Elevated API latency", INVESTIGATING, NOW - timedelta(hours=1)),
            ("Earlier outage", RESOLVED, NOW - timedelta(hours=3)),
            ("Old unresolved entry", INVESTIGATING, NOW - timedelta(days=3)),
        ),
        path="/history.atom",
    )
    verdict = check(page_url(server, "/history.atom"))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme Status - Incident History feed: incident 'Elevated API latency' (investigating)"
    page = verdict.statuspage
    assert page is not None and page["format"] == "atom"
    [entry] = page["incidents"]
    assert entry["link"] == "https://status.acme.example/incidents/0"
    assert entry["impact"] is None


def test_a_feed_whose_recent_entries_are_resolved_is_up(web, check):
    server = vendor(web, atom(("Earlier outage", RESOLVED, NOW - timedelta(hours=1))), path="/history.atom")
    verdict = check(page_url(server, "/history.atom"))
    assert (verdict.status, verdict.cause) == ("up", None), verdict.summary
    assert "the feed has no open incident in the last 24 h" in verdict.summary
    # A narrower window leaves out what a wider one counts.
    open_yesterday = vendor(web, atom(("Long outage", INVESTIGATING, NOW - timedelta(hours=5))), path="/history.atom")
    assert check(page_url(open_yesterday, "/history.atom")).status == "degraded"
    assert check(page_url(open_yesterday, "/history.atom?window=2h")).status == "up"


def rss(*items: tuple[str, str]) -> Reply:
    """An RSS 2.0 incident feed: (title, description as HTML), each updated half an hour ago."""
    stamp = (NOW - timedelta(minutes=30)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    entries = "".join(
        f"<item><title>{title}</title><description>{description}</description><pubDate>{stamp}</pubDate>"
        f"<link>https://status.acme.example/{i}</link></item>"
        for i, (title, description) in enumerate(items)
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme Status</title>{entries}</channel></rss>'
    return Reply(body=body.encode(), headers={"Content-Type": "text/xml"})


def test_an_rss_feed_with_an_open_incident_is_degraded(web, check):
    server = vendor(
        web,
        rss(
            ("RESOLVED: Payments delayed", "We fixed it."),
            ("Search unavailable", "&lt;strong&gt;Identified&lt;/strong&gt; - a bad deploy."),
            ("Service is operating normally: [RESOLVED] Increased API error rates", "Between 9 and 10 errors rose."),
        ),
        path="/feed",
    )
    verdict = check(page_url(server, "/feed"))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme Status feed: incident 'Search unavailable' (identified)"
    # Watching components, a feed's entries count when they name one.
    assert check(page_url(server, "/feed?component=Payments")).status == "up"
    assert check(page_url(server, "/feed?component=search")).status == "degraded"


def test_a_status_word_inside_a_feed_title_is_part_of_the_incidents_name(web, check):
    server = vendor(web, rss(("Completed jobs not shown", "&lt;b&gt;Investigating&lt;/b&gt; - on it.")), path="/feed")
    verdict = check(page_url(server, "/feed"))
    assert verdict.summary == "Acme Status feed: incident 'Completed jobs not shown' (investigating)"


def test_a_degraded_component_under_an_all_clear_indicator_is_named_not_contradicted(web, check):
    server = vendor(web, summary(components=[component("CDN", "degraded_performance"), component("API")]))
    verdict = check(page_url(server))
    assert (verdict.status, verdict.cause) == ("degraded", "vendor_reported")
    assert verdict.summary == "Acme status page: Degraded performance – CDN degraded performance"


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        (b"<!DOCTYPE html><html><body>Acme status</body></html>", "text/html", "got an HTML page"),
        (b"{not json", "application/json", "got bytes that are not JSON"),
        (b'["a", "list"]', "application/json", "got a JSON list"),
        (b'{"hello": "world"}', "application/json", "got a JSON object with keys hello"),
        (
            b'{"status": {"indicator": "none"}, "components": [{"name": "CDN", "status": "on fire"}]}',
            "application/json",
            "components[0].status: Input should be 'operational'",
        ),
        (b"\x00\xff garbage \x13", "application/octet-stream", "got 12 bytes of neither"),
        (b"<?xml version='1.0'?><urlset><url/></urlset>", "text/xml", "got an XML document whose root is <urlset>"),
        (b"[" * 100_000, "application/json", "nested too deep"),
    ],
    ids=["html", "broken json", "a json list", "other json", "a wrong component status", "binary", "other xml", "deep"],
)
def test_a_document_that_is_not_a_status_page_is_a_protocol_error(web, check, body, content_type, words):
    server = vendor(web, Reply(body=body, headers={"Content-Type": content_type}), path="/status.json")
    verdict = check(page_url(server, "/status.json"))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert verdict.summary.startswith(f"http://127.0.0.1:{server.port}/status.json: ")
    assert words in verdict.summary
    assert verdict.statuspage is None


def test_a_feed_with_entities_is_refused_unexpanded(web, check):
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>&lol2;</title></feed>'
    )
    server = vendor(web, Reply(body=laughs.encode(), headers={"Content-Type": "application/atom+xml"}), path="/f")
    verdict = check(page_url(server, "/f"))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "XML with a DTD, which ronda refuses to read" in verdict.summary


def test_an_endless_body_is_cut_and_named(web, check):
    server = vendor(web, Reply(mode="endless", headers=JSON), path="/summary.json")
    verdict = check(page_url(server, "/summary.json"))
    assert (verdict.status, verdict.cause) == ("down", "protocol_error")
    assert "larger than 2 MiB; ronda reads no more of it" in verdict.summary
    assert verdict.http is not None and verdict.http["truncated"] is True


def test_a_slow_drip_costs_the_check_its_budget(web, check):
    server = vendor(web, Reply(mode="drip", headers=JSON), path="/summary.json")
    verdict = check(page_url(server, "/summary.json"), timeout=0.6)
    assert (verdict.status, verdict.cause) == ("down", "http_timeout")


def test_a_missing_summary_is_an_http_error_naming_the_url_fetched(web, check):
    server = vendor(web, summary(), path="/elsewhere")
    verdict = check(page_url(server, "/?component=CDN"))
    assert (verdict.status, verdict.cause) == ("down", "http_client_error")
    # ronda's own parameters are not sent to the vendor.
    assert f"http://127.0.0.1:{server.port}/api/v2/summary.json at 127.0.0.1 answered 404" in verdict.summary


def test_a_status_page_with_an_expired_certificate_is_named_so(web, pki, check):
    expired = pki.server_context(
        "status.acme.test", valid_from=NOW - timedelta(days=92), valid_until=NOW - timedelta(days=2)
    )
    server = vendor(web, summary(), tls=expired)
    verdict = check(
        f"statuspage+https://status.acme.test:{server.port}/",
        resolve={("status.acme.test", server.port): ("127.0.0.1",)},
    )
    assert (verdict.status, verdict.cause) == ("down", "cert_expired")


def test_ronda_check_prints_the_vendors_words(web, repo_root, ca_file):
    server = vendor(
        web,
        summary(
            "minor",
            "Minor Service Outage",
            [component("CDN (Europe)", "degraded_performance")],
            [incident("Elevated error rates", on=("CDN (Europe)",))],
        ),
    )
    env = {**os.environ, "PYTHONPATH": str(repo_root), "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "ronda", "check", page_url(server)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # degraded: a warning
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("RONDA WARNING - vendor_reported: Acme status page: Minor Service Outage")
    assert (
        f"vendor: Acme (statuspage, http://127.0.0.1:{server.port}/api/v2/summary.json): minor - Minor" in proc.stdout
    )
    assert "  - component CDN (Europe): degraded performance" in lines
    assert (
        "  - incident 'Elevated error rates': investigating, impact minor, updated 2026-11-24T12:00:00Z, "
        "https://stspg.example/Elev" in lines
    )
    as_json = subprocess.run(
        [sys.executable, "-m", "ronda", "check", page_url(server), "--json"], capture_output=True, text=True, env=env
    )
    verdict = json.loads(as_json.stdout)
    assert verdict["cause"] == "vendor_reported" and verdict["statuspage"]["indicator"] == "minor"
    assert verdict["findings"][0]["severity"] == "degraded"


def test_kind_statuspage_is_the_statuspage_probe_with_its_components(tmp_path):
    path = tmp_path / "ronda.yaml"
    path.write_text(
        "monitors:\n"
        "  - name: cdn\n    kind: statuspage\n    url: https://status.acme.example/\n"
        "    components: [CDN, 'API (EU)']\n"
    )
    config = load_config(str(path), {})
    job = job_for(config.monitors[0], config)
    assert job.target.scheme == "statuspage+https"
    assert job.target.url == "statuspage+https://status.acme.example/?component=CDN&component=API+%28EU%29"


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        (
            "{name: a, kind: statuspage, url: 'tcp://a.test:1'}",
            "monitors[0].url: 'tcp://a.test:1': a status page's URL is https://",
        ),
        (
            "{name: a, url: 'https://a.test/', components: [CDN]}",
            "monitors[0].components: only a vendor's status page",
        ),
        (
            "{name: a, kind: statuspage, url: 'https://a.test/?window=soon'}",
            "monitors[0].url: 'https://a.test/?window=soon': window='soon': expected a duration",
        ),
        (
            "{name: a, kind: statuspage, url: 'https://a.test/', components: ['']}",
            "monitors[0].components: [0] is empty",
        ),
    ],
    ids=["not http", "components without the kind", "a bad window", "an empty component"],
)
def test_bad_statuspage_monitors_are_config_errors(tmp_path, monitor, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(f"monitors:\n  - {monitor}\n")
    assert f"{path}:2: {message}" in config_error(str(path))


def test_a_vendor_outage_is_the_incident_its_dependents_join(web, tmp_path: Path, ca_file, check):
    """`ronda run`: the vendor says its CDN is out, the shop behind it fails too: one incident,
    the vendor's, which the shop's failure joins; both recover, it resolves."""
    status = vendor(
        web, summary("major", "Partial System Outage", [component("CDN", "major_outage"), component("API")])
    )
    shop = web()
    monitors = (
        f"  - name: cdn\n    kind: statuspage\n    url: http://127.0.0.1:{status.port}/\n    components: [CDN]\n"
        f"  - name: shop\n    url: http://127.0.0.1:{shop.port}/\n    depends_on: [cdn]\n"
    )
    path = tmp_path / "ronda.yaml"
    path.write_text(config_text(free_port(), ca_file, monitors))
    ronda = RondaProcess(path).start()
    try:
        [opened] = wait_for("the vendor's incident", lambda: ronda.api("/api/v1/incidents?open=true"))
        assert (opened["monitor"], opened["cause"]) == ("cdn", "vendor_reported")
        assert opened["summary"] == "Acme status page: Major outage – CDN major outage"
        shop.default = Reply(status=503, body=b"upstream unavailable")

        def joined() -> list[dict[str, Any]]:
            [incident] = ronda.api("/api/v1/incidents?open=true")
            return [u for u in incident["updates"] if u["kind"] == "joined"]

        [join] = wait_for("the shop joining the vendor's incident", joined)
        assert "shop, which depends on it, fails too" in join["message"]
        assert [i["monitor"] for i in ronda.api("/api/v1/incidents?open=true")] == ["cdn"], "one outage, one incident"
        # A ronda watching this one reads its public summary.json back as the state it shows.
        mirrored = check(f"statuspage+http://127.0.0.1:{ronda.port}/status/summary.json")
        assert (mirrored.status, mirrored.cause) == ("down", "vendor_reported"), mirrored.summary
        assert mirrored.statuspage is not None and mirrored.statuspage["indicator"] == "critical"
        assert {c["name"]: c["status"] for c in mirrored.statuspage["components"]} == {
            "cdn": "major_outage",
            "shop": "major_outage",
        }
        status.routes["/api/v2/summary.json"] = summary()
        shop.default = Reply()
        wait_for("the resolution", lambda: ronda.api("/api/v1/incidents?open=true") == [])
        [resolved] = ronda.api("/api/v1/incidents")
        assert (resolved["id"], resolved["status"]) == (opened["id"], "resolved")
        [monitor] = [m for m in ronda.api("/api/v1/monitors") if m["name"] == "cdn"]
        assert monitor["target"] == f"statuspage+http://127.0.0.1:{status.port}/?component=CDN"
        assert monitor["last_check"]["statuspage"]["watched"] == ["CDN"]
    finally:
        code, output = ronda.stop()
    assert code == 0, output
    assert "Traceback" not in output
