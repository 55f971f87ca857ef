"""The public status page through the real app and a real store: what a visitor reads, in
English and Italian; the Atom feed, summary.json in Statuspage's shape, SVG badges; and
that no target or internal address ever reaches a stranger."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html import unescape
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from ronda.config.schema import Config
from ronda.rules.public_status import component_state, overall
from ronda.storage.database import Database
from ronda.web.i18n import LOCALE_DIR, negotiate
from tests.status_support import TARGETS, Browser, config, fill
from tests.support import config_error

ATOM = "{http://www.w3.org/2005/Atom}"
INTERNAL = [*TARGETS.values(), "internal.test", "10.20.30.40", "10.20.30.41"]


@pytest.fixture
def store(store_url: str):
    store = Database(store_url)
    yield store
    store.close()


@pytest.fixture
def filled(store):
    incident = fill(store, datetime.now(UTC))
    return store, incident


@pytest.fixture
def browser(filled):
    return Browser(filled[0], config())


def text_of(html: str) -> str:
    """What a person reads: the markup's text, spaces collapsed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_the_page_shows_each_component_state_in_words_and_the_open_incident_with_its_timeline(browser, filled):
    page = browser.get("/status")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html, words = page.text, text_of(page.text)
    assert '<html lang="en">' in html and page.headers["content-language"] == "en"
    assert "<h1>Example services</h1>" in html and "Partial outage" in words
    for name, state in [
        ("shop", "Major outage"),
        ("api", "Operational"),
        ("slow", "Degraded performance"),
        ("partial", "Partial outage"),
        ("db", "Under maintenance"),
    ]:
        assert re.search(
            rf"<h3>{name}</h3>\s*<p class=\"state\">\s*<span class=\"badge [a-z_]+\">{state}</span>", html
        ), name
    assert "secret" not in html, "a monitor on no page is not shown"
    incident = html[html.index(f'id="incident-{filled[1]}"') :]
    incident = text_of(incident[: incident.index("</article>")])
    assert "shop is down" in incident and "Identified" in incident
    assert "A switch failed <b>upstream</b>; replacing it." in incident, "a person's words are shown as written"
    assert "&lt;b&gt;" in html, "and escaped"
    assert "We noticed a problem and are looking into it." in incident
    assert "The problem is confirmed by repeated checks." in incident
    assert "Database upgrade" in words and "In progress" in words and "Network works" in words
    assert 'aria-label="Uptime of shop per day over the last 90 days: ' in html


def test_no_target_or_internal_address_reaches_the_page_the_feed_the_summary_or_a_badge(browser):
    for path in ("/status", "/status/public/feed.atom", "/status/public/summary.json", "/badge/shop/status.svg"):
        body = browser.get(path).text
        assert [leak for leak in INTERNAL if leak in body] == [], path


def test_the_page_links_its_atom_feed_and_has_accessible_structure(browser):
    html = browser.get("/status").text
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="http://127.0.0.1:8080/status/public/feed.atom"' in html
    levels = [int(level) for level in re.findall(r"<h([1-6])", html)]
    assert levels[0] == 1 and all(b - a <= 1 for a, b in pairwise(levels)), "no heading skipped"
    for field in ("report-service", "report-problem", "report-region", "report-comment"):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert html.count('role="img" aria-label=') == 5, "every component's bars are labelled"


@pytest.mark.parametrize(
    ("headers", "path", "lang", "heading"),
    [
        ({"Accept-Language": "it-IT,it;q=0.9,en;q=0.8"}, "/status", "it", "Componenti"),
        ({"Accept-Language": "en-GB,it;q=0.5"}, "/status", "en", "Components"),
        ({"Accept-Language": "it-IT,it;q=0.9"}, "/status?lang=en", "en", "Components"),
        ({"Accept-Language": "de-DE"}, "/status?lang=it", "it", "Componenti"),
        ({"Accept-Language": "fr, de;q=0.5"}, "/status", "en", "Components"),
    ],
    ids=[
        "an Italian browser reads Italian",
        "English first beats Italian at a lower quality",
        "lang=en overrides the header",
        "lang=it overrides a language ronda does not have",
        "languages ronda does not have fall back to English",
    ],
)
def test_the_language_follows_accept_language_or_the_lang_override(browser, headers, path, lang, heading):
    page = browser.get(path, headers=headers)
    assert f'<html lang="{lang}">' in page.text and page.headers["content-language"] == lang
    assert f'<h2 id="components-heading">{heading}</h2>' in page.text


def test_the_italian_page_translates_states_timelines_and_dates(browser):
    words = text_of(browser.get("/status", headers={"Accept-Language": "it-IT,it;q=0.9"}).text)
    assert "Interruzione parziale" in words and "Funzionante" in words and "In manutenzione" in words
    assert "Abbiamo notato un problema e lo stiamo analizzando." in words
    assert "Segnala un problema" in words and "Incidenti in corso" in words
    month = ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"][
        datetime.now(UTC).month - 1
    ]
    assert re.search(rf"\d+ {month} \d{{4}}, \d\d:\d\d:\d\d", words), "dates as Italians write them"


@pytest.mark.parametrize(
    ("header", "override", "expected"),
    [
        ("it-IT,it;q=0.9", None, "it"),
        ("en;q=0.4,it;q=0.6", None, "it"),
        ("it;q=0,en", None, "en"),
        ("", None, "en"),
        ("*", None, "en"),
        ("it", "xx", "it"),
        ("en", "it", "it"),
    ],
    ids=[
        "a regional tag matches its language",
        "the higher quality wins whatever the order",
        "q=0 refuses a language",
        "no header is English",
        "a wildcard is English",
        "an unknown override is ignored",
        "a known override wins",
    ],
)
def test_negotiation_reads_quality_values(header, override, expected):
    assert negotiate(header, override) == expected


def test_the_summary_has_statuspage_keys_and_maps_each_state(browser, filled):
    summary = browser.get("/status/public/summary.json").json()
    assert list(summary) == ["page", "status", "components", "incidents", "scheduled_maintenances"]
    assert summary["page"]["id"] == "public" and summary["page"]["name"] == "Example services"
    assert summary["page"]["url"] == "http://127.0.0.1:8080/status/public" and summary["page"]["time_zone"] == "UTC"
    assert summary["status"] == {"indicator": "major", "description": "Partial System Outage"}
    states = {c["name"]: c["status"] for c in summary["components"]}
    assert states == {
        "shop": "major_outage",
        "api": "operational",
        "slow": "degraded_performance",
        "partial": "partial_outage",
        "db": "under_maintenance",
    }
    component = summary["components"][0]
    assert set(component) >= {
        "id", "name", "status", "created_at", "updated_at", "position", "description", "showcase",
        "group_id", "page_id", "group", "only_show_if_degraded",
    }  # fmt: skip
    assert (component["position"], component["group_id"], component["group"], component["page_id"]) == (
        1,
        None,
        False,
        "public",
    )
    shop = next(i for i in summary["incidents"] if i["id"] == str(filled[1]))
    assert set(shop) >= {
        "id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at", "impact",
        "shortlink", "started_at", "page_id", "incident_updates", "components",
    }  # fmt: skip
    assert (shop["status"], shop["impact"], shop["resolved_at"]) == ("identified", "major", None)
    assert shop["shortlink"] == f"http://127.0.0.1:8080/status/public#incident-{filled[1]}"
    first = shop["incident_updates"][0]
    assert set(first) == {"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at"}
    assert first["status"] == "identified" and first["body"].startswith("A switch failed")
    assert [c["name"] for c in shop["components"]] == ["shop"]
    assert all(i["resolved_at"] is None for i in summary["incidents"]), "only unresolved incidents"
    planned = {m["name"]: m for m in summary["scheduled_maintenances"]}
    assert planned["Database upgrade"]["status"] == "in_progress"
    assert planned["Network works"]["status"] == "scheduled" and planned["Network works"]["impact"] == "maintenance"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", planned["Network works"]["scheduled_until"])


@pytest.mark.parametrize(
    ("status", "cause", "maintenance", "expected"),
    [
        ("up", None, False, "operational"),
        ("unknown", None, False, "operational"),
        ("degraded", "slow_response", False, "degraded_performance"),
        ("degraded", "subresource_failed", False, "degraded_performance"),
        ("degraded", "tcp_refused", False, "partial_outage"),
        ("down", "cert_expired", False, "major_outage"),
        ("down", "cert_expired", True, "under_maintenance"),
    ],
    ids=[
        "up is operational",
        "not checked yet is operational (Statuspage has no unknown)",
        "slow is degraded performance",
        "failing assets are degraded performance",
        "some addresses failing is a partial outage",
        "down is a major outage",
        "inside a maintenance window is under maintenance",
    ],
)
def test_ronda_states_in_statuspage_words(status, cause, maintenance, expected):
    assert component_state(status, cause, maintenance) == expected


@pytest.mark.parametrize(
    ("states", "indicator", "description"),
    [
        (["operational", "operational"], "none", "All Systems Operational"),
        (["operational", "under_maintenance"], "none", "Service Under Maintenance"),
        (["operational", "degraded_performance"], "minor", "Minor Service Outage"),
        (["operational", "major_outage"], "major", "Partial System Outage"),
        (["major_outage", "major_outage"], "critical", "Major Service Outage"),
        ([], "none", "All Systems Operational"),
    ],
    ids=[
        "all operational",
        "maintenance alone is not an outage",
        "slowness is minor",
        "one component out of several is a partial outage",
        "everything out is a major outage",
        "an empty page is operational",
    ],
)
def test_the_overall_state(states, indicator, description):
    state = overall(states)
    assert (state.indicator, state.description) == (indicator, description)


def test_the_atom_feed_parses_and_has_an_entry_per_incident_with_its_updates(browser, filled):
    response = browser.get("/status/public/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "http://127.0.0.1:8080/status/public"
    assert feed.findtext(f"{ATOM}title") == "Example services"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", feed.findtext(f"{ATOM}updated") or "")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 4, "shop, slow, partial and db have open incidents"
    shop = next(e for e in entries if e.findtext(f"{ATOM}id", "").endswith(f"#incident-{filled[1]}"))
    assert shop.findtext(f"{ATOM}title") == "shop is down"
    content = shop.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "xhtml"
    text = "".join(content.itertext())
    assert "A switch failed <b>upstream</b>" in text and "We noticed a problem" in text
    assert browser.get("/status/feed.atom").content == response.content, "/status's feed is the default page's"


def test_the_atom_feed_speaks_the_visitors_language(browser):
    feed = ET.fromstring(browser.get("/status/public/feed.atom?lang=it").content)
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "it"
    assert "Abbiamo notato un problema" in "".join(feed.itertext())


@pytest.mark.parametrize(
    ("path", "label", "message"),
    [
        ("/status/public/badge.svg", "Example services", "partial outage"),
        ("/badge/shop/status.svg", "shop", "major outage"),
        ("/badge/api/status.svg", "api", "operational"),
        ("/badge/db/status.svg", "db", "maintenance"),
        ("/badge/api/uptime.svg?period=24h", "uptime 24h", "100%"),
        ("/badge/api/uptime.svg", "uptime 30d", "100%"),
    ],
    ids=[
        "a page's badge says its overall state",
        "a down monitor's badge says major outage",
        "an up monitor's badge says operational",
        "a monitor in maintenance says so",
        "an uptime badge over a chosen period",
        "an uptime badge defaults to 30 days",
    ],
)
def test_badges_are_svg_with_the_right_words(browser, path, label, message):
    response = browser.get(path)
    assert response.status_code == 200 and response.headers["content-type"] == "image/svg+xml"
    assert re.fullmatch(r"public, max-age=\d+", response.headers["cache-control"])
    svg = ET.fromstring(response.content)
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == [label, message]
    assert svg.get("aria-label") == f"{label}: {message}" and svg.get("role") == "img"


def test_badges_of_monitors_on_no_page_or_of_no_monitor_are_404_and_periods_are_checked(browser):
    assert browser.get("/badge/secret/status.svg").status_code == 404
    assert browser.get("/badge/nobody/uptime.svg").status_code == 404
    assert browser.get("/badge/api/uptime.svg?period=1y").status_code == 422


def test_a_hostile_name_is_escaped_in_badges_and_the_page(store):
    hostile = 'x"><img src=x onerror=alert(1)>&'  # no slash: a path segment
    store.monitors.sync({hostile: "https://hostile.internal.test/"})
    browser = Browser(store, Config())  # no status_pages: every monitor is public
    response = browser.get(f"/badge/{quote(hostile, safe='')}/status.svg")
    assert response.status_code == 200
    assert "<img" not in response.text
    svg = ET.fromstring(response.content)  # still well-formed
    assert [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")] == [hostile, "no data"]
    page = browser.get("/status").text
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    ("pages", "title"),
    [
        ([{"slug": "first", "title": "First"}, {"slug": "default", "title": "The default"}], "The default"),
        ([{"slug": "first", "title": "First"}, {"slug": "second", "title": "Second"}], "First"),
        ([], "Status"),
    ],
    ids=["the page named default", "else the first page", "else one page of every monitor"],
)
def test_status_shows_the_default_page(filled, pages, title):
    browser = Browser(filled[0], config(status_pages=pages))
    html = browser.get("/status").text
    assert f"<h1>{title}</h1>" in html
    if not pages:
        assert "<h3>secret</h3>" in html, "with no pages configured every monitor is shown"


def test_an_unknown_page_is_a_readable_404(browser):
    for path, kind in [("/status/nope", "text/html"), ("/status/nope/summary.json", "application/json")]:
        response = browser.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith(kind), path
    html = browser.get("/status/nope", headers={"Accept-Language": "it"}).text
    assert "<h1>Pagina di stato inesistente</h1>" in html and '<a href="/status/public">Example services</a>' in html
    assert browser.get("/status/nope/feed.atom").status_code == 404
    assert browser.get("/status/nope/badge.svg").status_code == 404


def test_every_status_route_is_in_the_openapi_schema_with_a_summary(browser):
    paths = browser.app.openapi()["paths"]
    routes = [
        "/status", "/status/{slug}", "/status/feed.atom", "/status/{slug}/feed.atom", "/status/summary.json",
        "/status/{slug}/summary.json", "/status/badge.svg", "/status/{slug}/badge.svg",
        "/badge/{monitor}/status.svg", "/badge/{monitor}/uptime.svg",
    ]  # fmt: skip
    for route in routes:
        assert paths[route]["get"]["summary"], route
    assert "image/svg+xml" in paths["/badge/{monitor}/status.svg"]["get"]["responses"]["200"]["content"]
    assert "application/atom+xml" in paths["/status/{slug}/feed.atom"]["get"]["responses"]["200"]["content"]
    assert "text/html" in paths["/status"]["get"]["responses"]["200"]["content"]
    report = paths["/api/v1/reports"]["post"]
    assert report["summary"] and set(report["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }


def test_the_compiled_italian_catalogue_is_in_step_with_its_po_file():
    folder = LOCALE_DIR / "it" / "LC_MESSAGES"
    with open(folder / "ronda.po", "rb") as po_file:
        po = read_po(po_file)
    with open(folder / "ronda.mo", "rb") as mo_file:
        mo = read_mo(mo_file)
    from_po = {m.id: m.string for m in po if m.id and m.string}
    from_mo = {m.id: m.string for m in mo if m.id}
    assert from_mo == from_po, "run: pybabel compile -d ronda/web/locale -D ronda"


def test_every_message_of_the_status_page_is_translated_into_italian():
    with open(LOCALE_DIR / "it" / "LC_MESSAGES" / "ronda.po", "rb") as po_file:
        translated = {m.id for m in read_po(po_file) if m.id and m.string and not m.fuzzy}
    web = Path(LOCALE_DIR).parent
    sources = [("python", web.parent / "rules" / "public_status.py")]
    sources += [("python", web / "public_posts.py"), ("python", web / "subscriptions.py")]  # mails and refusals
    sources += [("jinja2", path) for path in sorted((web / "templates").glob("status*.html"))]
    sources += [("jinja2", web / "templates" / "layout.html")]
    wanted = set()
    for method, path in sources:
        for _, message, _, _ in extract_from_file(method, str(path), options={"extensions": "jinja2.ext.i18n"}):
            wanted.add(message if isinstance(message, str) else message[0])
    assert sorted(wanted - translated) == [], "see ronda/web/locale/babel.cfg for the commands"


MONITORS = (
    "monitors:\n  - {name: shop, url: 'https://shop.test/', tags: [web]}\n  - {name: db, url: 'tcp://db.test:5432'}\n"
)


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            "  - {slug: Public Page, title: Shop}\n",
            ":5: status_pages[0].slug: expected lowercase letters, digits and dashes such as 'public',"
            " got 'Public Page'",
        ),
        ("  - {slug: -shop, title: Shop}\n", ":5: status_pages[0].slug: expected lowercase letters, digits and dashes"),
        ("  - {slug: shop}\n", ":5: status_pages[0].title: required but missing"),
        (
            "  - {slug: shop, title: Shop}\n  - {slug: shop, title: Again}\n",
            ":6: status_pages[1].slug: 'shop' is used by another status page",
        ),
        (
            "  - slug: shop\n    title: Shop\n    monitors: [shop, dbb]\n",
            ":7: status_pages[0].monitors[1]: no monitor is named 'dbb'",
        ),
        (
            "  - slug: shop\n    title: Shop\n    tags: [wbe]\n",
            ":7: status_pages[0].tags[0]: no monitor has the tag 'wbe'",
        ),
        (
            "  - {slug: shop, title: Shop, timezone: Europe/Roma}\n",
            ":5: status_pages[0].timezone: unknown time zone 'Europe/Roma'"
            " (use an IANA name such as Europe/Rome or UTC)",
        ),
        (
            "  - {slug: shop, title: Shop, url: 'https://x.test/'}\n",
            ":5: status_pages[0].url: unknown key (check its spelling)",
        ),
    ],
    ids=[
        "a slug with capitals and a space",
        "a slug starting with a dash",
        "a page without a title",
        "two pages with one slug",
        "a page naming a monitor that does not exist",
        "a page naming a tag no monitor has",
        "a time zone that does not exist",
        "a misspelt or unknown key",
    ],
)
def test_status_pages_are_rejected_by_exact_message(tmp_path, pages, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(MONITORS + "status_pages:\n" + pages)
    assert f"{path}{message}" in config_error(str(path))


def test_a_good_status_pages_config_loads(tmp_path):
    from ronda.config.load import load_config

    path = tmp_path / "ronda.yaml"
    path.write_text(MONITORS + "status_pages:\n  - {slug: shop, title: Shop, monitors: [db], tags: [web]}\n")
    page = load_config(str(path), {}).status_pages[0]
    assert (page.slug, page.title, page.monitors, page.tags, page.timezone) == ("shop", "Shop", ["db"], ["web"], "UTC")


def flapping_shop(store: Database, now: datetime, turns: int) -> None:
    """shop fails, then recovers and fails again `turns` times (a reopened incident is
    flapping: it resolves after `flap_calm` good checks in a row); down at the end."""
    from datetime import timedelta

    from ronda.rules.incidents import Policy
    from tests.status_support import verdict as check

    store.monitors.sync(TARGETS)
    eager = Policy(confirm=1, recover=1, flap_calm=2)
    start = now - timedelta(minutes=3 * turns + 5)
    store.monitors.record("shop", check("shop", "down", "tcp_refused", start), eager)
    for turn in range(turns):
        at = start + timedelta(minutes=3 * turn + 1)
        for minute in (0, 1):
            store.monitors.record("shop", check("shop", "up", None, at + timedelta(minutes=minute)), eager)
        store.monitors.record("shop", check("shop", "down", "tcp_refused", at + timedelta(minutes=2)), eager)


def incident_html(html: str) -> str:
    start = html.index('<article class="card incident"')
    return html[start : html.index("</article>", start)]


def timeline_statuses(article: str) -> list[str]:
    return re.findall(r'<span class="kind">([^<]+)</span>', article)


def test_a_reopened_incident_reads_as_the_problem_back_never_as_resolved(store):
    flapping_shop(store, datetime.now(UTC), turns=1)
    html = Browser(store, config()).get("/status/public").text
    article = incident_html(html)
    assert 'class="badge open"' in article and "Investigating" in article
    newest = timeline_statuses(article)[0]
    assert newest == "Investigating", "the automatic update after a recovery is not 'Resolved'"
    assert "The problem is back: the service fails again." in text_of(article)
    assert "Resolved: The problem is back" not in text_of(article)


def test_a_flapping_incidents_timeline_is_folded_to_its_transitions(store):
    flapping_shop(store, datetime.now(UTC), turns=40)
    html = Browser(store, config()).get("/status/public").text
    article = incident_html(html)
    words = text_of(article)
    assert "came back and failed again 40 times" in words
    assert article.count("<li>") <= 4, "detected and confirmed, one entry for the 40 turns"
    assert timeline_statuses(article)[0] == "Investigating"
    assert words.count("The service works again.") == 0


@pytest.mark.parametrize(
    ("kinds", "folded"),
    [
        (["detected", "confirmed", "resolved", "reopened"], ["detected", "confirmed", "resolved", "reopened"]),
        (
            ["detected", "resolved", "reopened", "flapping", "resolved", "reopened", "resolved"],
            ["detected", 2, "resolved"],
        ),
        (
            ["detected", "resolved", "reopened", "human", "resolved", "reopened"],
            ["detected", "resolved", "reopened", "human", "resolved", "reopened"],
        ),
    ],
    ids=["one reopening stays", "two turns fold, the last recovery stays", "a person's words break the run"],
)
def test_runs_of_recoveries_that_did_not_last_fold_into_one_entry(kinds, folded):
    from datetime import timedelta

    from ronda.records import PublicUpdate
    from ronda.rules.public_status import Flaps, fold_flaps

    start = datetime(2026, 12, 1, tzinfo=UTC)
    updates = [PublicUpdate(start + timedelta(minutes=i), kind, None, "") for i, kind in enumerate(kinds)]
    out = fold_flaps(updates)
    assert [item.times if isinstance(item, Flaps) else item.kind for item in out] == folded


def test_the_page_puts_incidents_first_then_components_then_history_with_a_report_link_on_top(browser, filled):
    html = browser.get("/status/public").text
    order = [
        html.index(marker)
        for marker in (
            'href="#report"',
            "Current incidents",
            "Components",
            "Resolved in the last 14 days",
            'id="report"',
        )
    ]
    assert order == sorted(order)
    assert html.index("Planned maintenance") < html.index("Components")


def test_display_names_groups_descriptions_and_a_logo_are_the_operators(store, tmp_path):
    fill(store, datetime.now(UTC))
    logo = tmp_path / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    page = {
        "slug": "public",
        "title": "Example Inc.",
        "logo": str(logo),
        "monitors": ["shop", "api"],
        "components": {
            "shop": {"name": "Online shop", "description": "Where you buy", "group": "Website"},
            "api": {"name": "Public API", "group": "Developers"},
        },
    }
    browser = Browser(store, config(status_pages=[page]))
    html = browser.get("/status/public").text
    words = text_of(html)
    assert "<h3>Online shop</h3>" in html and "Where you buy" in words and "<h3>Public API</h3>" in html
    assert (
        html.index('<h3 class="group">Website</h3>')
        < html.index("<h3>Online shop</h3>")
        < html.index('<h3 class="group">Developers</h3>')
    )
    assert "Online shop is down" in words, "incidents use the display name"
    assert '<option value="shop">Online shop</option>' in html
    assert 'src="/status/public/logo"' in html
    served = browser.get("/status/public/logo")
    assert served.status_code == 200 and served.headers["content-type"] == "image/svg+xml"
    assert served.headers["content-security-policy"].startswith("default-src 'none'")
    assert browser.get("/status/nope/logo").status_code == 404
    summary = browser.get("/status/public/summary.json").json()
    assert [(c["name"], c["description"]) for c in summary["components"]] == [
        ("Online shop", "Where you buy"),
        ("Public API", None),
    ]
    badge = ET.fromstring(browser.get("/badge/shop/status.svg").content)
    assert next(t.text for t in badge.iter("{http://www.w3.org/2000/svg}text")) == "Online shop", "badges too"


def test_uptime_is_over_the_time_watched_not_ninety_days(browser):
    html = browser.get("/status/public").text
    assert re.search(r"\d+\.\d\d% uptime since \w{3} \d{1,2}, \d{4}", text_of(html)), "two hours watched"
    assert "uptime over 90 days" not in html


def test_times_carry_their_instant_for_the_visitors_zone(browser):
    html = browser.get("/status/public").text
    moments = re.findall(r'<time datetime="([^"]+)" data-moment>', html)
    assert moments and all(datetime.fromisoformat(at).tzinfo is not None for at in moments)
    assert '<script src="/static/moments.js" defer></script>' in html
    assert '<script src="/static/status-live.js" defer></script>' in html and 'id="status-live"' in html


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            "  - slug: shop\n    title: Shop\n    components: {dbb: {name: Database}}\n",
            ":7: status_pages[0].components.dbb: no monitor is named 'dbb'",
        ),
        (
            "  - {slug: shop, title: Shop, logo: logo.gif}\n",
            ":5: status_pages[0].logo: expected an image file ending in",
        ),
        ("  - {slug: shop, title: Shop, logo: missing.svg}\n", ":5: status_pages[0].logo: no such file:"),
    ],
    ids=["a display name for no monitor", "a logo that is no image ronda serves", "a logo file that is missing"],
)
def test_status_page_display_settings_are_checked_at_load(tmp_path, pages, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(MONITORS + "status_pages:\n" + pages)
    assert message in config_error(path)


@pytest.mark.parametrize("counts_shown", [False, True], ids=["counts private by default", "counts public by config"])
def test_report_counts_are_public_only_when_the_page_says_so(filled, counts_shown):
    from datetime import timedelta

    store, _ = filled
    page = {"slug": "public", "title": "Example", "monitors": ["shop", "api"], "show_report_counts": counts_shown}
    moments = [datetime.now(UTC)]
    browser = Browser(store, config(status_pages=[page]), clock=lambda: moments[-1])
    for n in range(3):
        browser.address = f"198.51.100.{n + 1}"
        assert browser.post("/api/v1/reports", json={"service": "api", "problem": "slow"}).status_code == 202
    moments.append(moments[-1] + timedelta(minutes=20))  # the chart counts quarter hours that are over
    words = text_of(browser.get("/status/public").text)
    assert "Users report nothing unusual." in words, "three reports are no surge"
    assert ("Reports in the last 24 hours: 3" in words) is counts_shown
    assert ("It is very slow (3)" in words) is counts_shown


def test_a_logo_is_found_beside_the_config_file_wherever_ronda_starts(tmp_path, monkeypatch):
    from ronda.config.load import load_config

    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    config = folder / "ronda.yaml"
    config.write_text(MONITORS + "status_pages:\n  - {slug: shop, title: Shop, logo: logo.png}\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the logo is the config's neighbour, not the working folder's
    [page] = load_config(str(config)).status_pages
    assert page.logo == str(folder / "logo.png")
