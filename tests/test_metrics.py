"""/metrics as Prometheus reads it: valid exposition (prometheus_client's strict parsers;
promtool, checked once by hand, comes only with the whole Prometheus server package), the
field's naming conventions, values that say what the store holds, and a Grafana dashboard
that asks only for metrics ronda exports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import ValidationError

from ronda import __version__
from ronda.config.schema import Config
from ronda.service.scheduler import LagHistogram
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient
from tests.recorded import API_CERT, NEW_CERT, NOW, recorded_store

TOKEN = "metrics-token"
DASHBOARD = Path(__file__).parent.parent / "contrib" / "grafana" / "ronda-dashboard.json"


@pytest.fixture
def client(tmp_path: Path, store_url: str) -> Iterator[AppClient]:
    store = recorded_store(tmp_path, store_url)  # /metrics reads its gauges from either store
    ctx = WebContext(
        store,
        TOKEN,
        scheduler_stats=lambda: {"checks_run": 12, "slots_skipped": 3, "lag_seconds": 0.25},
        scheduler_lag=lambda: _lags(0.005, 0.2, 0.2, 3.0),
        connectivity=lambda: {"online": False, "since": None, "canaries": []},
    )
    yield AppClient(create_app(ctx), headers={"authorization": f"Bearer {TOKEN}"})
    store.close()


def _lags(*seconds: float) -> LagHistogram:
    lag = LagHistogram()
    for value in seconds:
        lag.observe(value)
    return lag


def scrape(client: AppClient, accept: str | None = None) -> str:
    response = client.get("/metrics", headers={"accept": accept} if accept else {})
    assert response.status_code == 200
    return response.text


def samples(text: str) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def value(text: str, name: str, **labels: str) -> float:
    [match] = [s.value for s in samples(text).get(name, []) if labels.items() <= s.labels.items()]
    return match


def test_metrics_refuse_a_scrape_without_the_token(client):
    assert client.get("/metrics", headers={"authorization": ""}).status_code == 401


def test_the_text_exposition_parses_and_every_family_is_documented(client):
    families = list(text_string_to_metric_families(scrape(client)))
    assert families
    assert all(f.documentation for f in families), [f.name for f in families if not f.documentation]


def test_prometheus_asking_for_openmetrics_gets_valid_openmetrics(client):
    response = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    names = {f.name: f.type for f in parse_openmetrics(response.text)}  # strict: raises on any fault
    assert names["ronda_checks"] == "counter"
    assert names["ronda_build"] == "info"


def test_names_follow_the_conventions_of_the_field(client):
    for family in text_string_to_metric_families(scrape(client)):
        assert family.name.startswith("ronda_")
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), family.name
        assert not re.search(r"_(ms|milliseconds|days|minutes)$", family.name), f"{family.name}: not a base unit"


@pytest.mark.parametrize(
    ("name", "labels", "expected"),
    [
        ("ronda_probe_success", {"monitor": "shop"}, 1.0),
        ("ronda_probe_success", {"monitor": "images"}, 1.0),
        ("ronda_probe_success", {"monitor": "api"}, 0.0),
        ("ronda_probe_duration_seconds", {"monitor": "shop"}, 0.25),
        ("ronda_probe_http_status_code", {"monitor": "images"}, 503.0),
        ("ronda_probe_timestamp_seconds", {"monitor": "shop"}, NOW.timestamp()),
        ("ronda_monitor_status", {"monitor": "api", "status": "down"}, 1.0),
        ("ronda_monitor_status", {"monitor": "api", "status": "up"}, 0.0),
        ("ronda_monitor_status", {"monitor": "fresh", "status": "unknown"}, 1.0),
        ("ronda_monitor_status", {"monitor": "images", "status": "degraded"}, 1.0),
        ("ronda_open_incidents", {"severity": "down"}, 1.0),
        ("ronda_open_incidents", {"severity": "degraded"}, 1.0),
        ("ronda_incidents_open", {}, 2.0),
        ("ronda_outbox_pending", {}, 5.0),
        ("ronda_outbox_failed", {}, 1.0),
        ("ronda_checks_total", {}, 12.0),
        ("ronda_scheduler_skipped_slots_total", {}, 3.0),
        ("ronda_scheduler_lag_seconds", {}, 0.25),
        ("ronda_online", {}, 0.0),
        ("ronda_build_info", {"version": __version__}, 1.0),
        # Kept from before, for whoever scrapes them already.
        ("ronda_monitor_up", {"monitor": "images"}, 0.5),
        ("ronda_http_status_code", {"monitor": "shop"}, 200.0),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_metric_says_what_the_store_holds(client, name, labels, expected):
    text = scrape(client)
    if name == "ronda_open_incidents":
        matching = [s.value for s in samples(text)[name] if labels.items() <= s.labels.items()]
        assert sum(matching) == expected
    else:
        assert value(text, name, **labels) == expected


def test_how_late_checks_started_is_a_histogram_for_percentiles(client):
    text = scrape(client)
    buckets = {s.labels["le"]: s.value for s in samples(text)["ronda_check_start_lag_seconds_bucket"]}
    assert buckets["0.01"] == 1.0
    assert buckets["0.25"] == 3.0
    assert buckets["2.5"] == 3.0
    assert buckets["5.0"] == 4.0
    assert buckets["+Inf"] == 4.0
    assert value(text, "ronda_check_start_lag_seconds_count") == 4.0
    assert value(text, "ronda_check_start_lag_seconds_sum") == pytest.approx(3.405)


def test_a_monitor_has_one_current_status_in_its_state_set(client):
    text = scrape(client)
    for monitor in ("shop", "api", "images", "fresh"):
        states = [s for s in samples(text)["ronda_monitor_status"] if s.labels["monitor"] == monitor]
        assert sorted(s.labels["status"] for s in states) == ["degraded", "down", "unknown", "up"]
        assert sum(s.value for s in states) == 1.0


def test_a_renewed_certificate_replaces_the_old_one_in_the_expiry_metric(client):
    expiries = samples(scrape(client))["ronda_certificate_expiry_timestamp_seconds"]
    by_fingerprint = {s.labels["fingerprint_sha256"]: s for s in expiries}
    assert set(by_fingerprint) == {NEW_CERT, API_CERT}
    shop = by_fingerprint[NEW_CERT]
    assert shop.labels == {
        "monitor": "shop",
        "host": "shop.test",
        "address": "127.0.0.2",
        "port": "443",
        "fingerprint_sha256": NEW_CERT,
    }
    assert shop.value == (NOW + timedelta(days=80)).timestamp()


def test_a_monitor_down_since_its_last_handshake_keeps_its_certificate_in_the_metric(client):
    api = [
        s for s in samples(scrape(client))["ronda_certificate_expiry_timestamp_seconds"] if s.labels["monitor"] == "api"
    ]
    assert [s.labels["fingerprint_sha256"] for s in api] == [API_CERT]


# -- the Grafana dashboard ----------------------------------------------------------------

# PromQL words that are not metric names: functions, aggregations, keywords, and what
# follows `by (` / `without (` or sits inside `{...}` (labels), which are removed first.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "by", "without", "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "time", "rate", "increase", "irate", "delta",
    "max_over_time", "min_over_time", "avg_over_time", "changes", "resets", "sort", "sort_desc",
    "clamp_min", "clamp_max", "abs", "round", "vector", "scalar", "label_replace", "absent", "bool",
    "offset", "count_over_time", "last_over_time", "ceil", "floor",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
    expr = re.sub(r'"[^"]*"', "", expr)  # strings (label_replace's arguments)
    words = re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr)
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?", w)}


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold theirs


def test_the_dashboard_file_is_an_importable_grafana_dashboard():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            assert panel["targets"], panel["title"]


def test_every_dashboard_query_asks_only_for_metrics_ronda_exports(client):
    exported = set(samples(scrape(client)))
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [(panel["title"], target["expr"]) for panel in panels(dashboard) for target in panel.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    queries += [(f"variable {d}", re.sub(r"^label_values\((\w+),.*\)$", r"\1", d)) for d in variables]
    assert len(queries) >= 10
    for title, expr in queries:
        names = metric_names(expr)
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= exported, f"{title}: {sorted(names - exported)} not exported"


def test_the_dashboard_has_the_panels_people_look_for():
    titles = {panel["title"] for panel in panels(json.loads(DASHBOARD.read_text()))}
    assert {
        "Monitors",
        "Probe duration",
        "Certificate days left",
        "Open incidents",
        "Scheduler",
        "Outbox backlog",
        "ronda online",
    } <= titles


def test_the_query_parser_finds_metric_names_and_ignores_the_rest():
    expr = 'sort((ronda_certificate_expiry_timestamp_seconds{monitor=~"$monitor"} - time()) / 86400) and on(monitor) sum by (status) (rate(ronda_checks_total[5m]))'  # noqa: E501
    assert metric_names(expr) == {"ronda_certificate_expiry_timestamp_seconds", "ronda_checks_total"}


def _monitor_series(text: str) -> set[str]:
    """The monitors that have series of their own in a scrape."""
    return {
        sample.labels["monitor"]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "monitor" in sample.labels
    }


@pytest.fixture
def tagged_client(tmp_path: Path) -> Iterator[AppClient]:
    store = recorded_store(tmp_path)
    tags = {"shop": ["web"], "images": ["web"], "api": ["backend"], "fresh": []}
    config = Config.model_validate(
        {"monitors": [{"name": name, "url": f"https://{name}.test/", "tags": tag} for name, tag in tags.items()]}
    )
    ctx = WebContext(store, TOKEN, config=config)
    yield AppClient(create_app(ctx), headers={"authorization": f"Bearer {TOKEN}"})
    store.close()


def test_a_large_setup_scrapes_one_tag_or_only_the_totals(tagged_client):
    every = tagged_client.get("/metrics").text
    assert _monitor_series(every) == {"shop", "api", "images", "fresh"}
    web = tagged_client.get("/metrics?tag=web").text
    assert _monitor_series(web) == {"shop", "images"}, "a tag's monitors only, certificates included"
    totals = tagged_client.get("/metrics?per_monitor=false").text
    assert _monitor_series(totals) == set()
    # The totals are in every scrape, whatever its scope: every monitor counted by status.
    for text in (every, web, totals):
        assert value(text, "ronda_monitors", status="up") == 1  # shop
        assert value(text, "ronda_monitors", status="down") == 1  # api
        assert value(text, "ronda_monitors", status="degraded") == 1  # images
        assert value(text, "ronda_monitors", status="unknown") == 1  # fresh: never checked
        assert value(text, "ronda_incidents_open") == value(every, "ronda_incidents_open")
    assert tagged_client.get("/metrics?tag=nobody-has-it").status_code == 200
    assert _monitor_series(tagged_client.get("/metrics?tag=nobody-has-it").text) == set()


def test_past_the_limit_a_scrape_has_the_totals_and_says_how_many_were_left_out(tmp_path):
    store = recorded_store(tmp_path)
    tags = {"shop": ["web"], "images": ["web"], "api": ["backend"], "fresh": []}
    config = Config.model_validate(
        {
            "server": {"metrics_per_monitor_limit": 3},
            "monitors": [{"name": name, "url": f"https://{name}.test/", "tags": tag} for name, tag in tags.items()],
        }
    )
    client = AppClient(
        create_app(WebContext(store, TOKEN, config=config)), headers={"authorization": f"Bearer {TOKEN}"}
    )
    try:
        unasked = client.get("/metrics").text
        assert _monitor_series(unasked) == set(), "four monitors, a limit of three: the totals only"
        assert value(unasked, "ronda_metrics_monitors_left_out") == 4
        assert value(unasked, "ronda_monitors", status="up") == 1
        web = client.get("/metrics?tag=web").text
        assert _monitor_series(web) == {"shop", "images"}, "a tag of two is within the limit"
        assert value(web, "ronda_metrics_monitors_left_out") == 0
        every = client.get("/metrics?per_monitor=true").text
        assert _monitor_series(every) == {"shop", "api", "images", "fresh"}, "asked for all: all"
    finally:
        store.close()


def test_the_limit_is_checked_where_it_is_set():
    with pytest.raises(ValidationError, match="metrics_per_monitor_limit"):
        Config.model_validate({"server": {"metrics_per_monitor_limit": -1}})
