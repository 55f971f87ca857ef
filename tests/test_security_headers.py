"""Every answer of ronda's web face carries the headers that keep its pages from being framed,
sniffed or made to run scripts from elsewhere; HSTS where ronda is reached over TLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ronda.config.schema import Config, ServerConfig
from ronda.storage.database import Database
from ronda.web.app import create_app
from ronda.web.context import WebContext
from ronda.web.headers import CONTENT_SECURITY_POLICY
from tests.asgi import AppClient

TOKEN = "a-token-of-sixteen-or-more"


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    yield database
    database.close()


def client(db: Database, public_url: str | None = None) -> AppClient:
    config = Config(server=ServerConfig(public_url=public_url))
    return AppClient(create_app(WebContext(db, TOKEN, config=config)))


@pytest.mark.parametrize("path", ["/status", "/login", "/status/nowhere"])
def test_html_pages_carry_the_content_security_policy_and_cannot_be_framed(db, path):
    answer = client(db).get(path)
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy and answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/healthz", "/status/summary.json", "/api/v1/monitors", "/static/ronda.css"])
def test_every_other_answer_is_not_sniffed_and_keeps_its_referrer(db, path):
    answer = client(db).get(path)
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS


@pytest.mark.parametrize(
    ("body", "status"), [(b'{"service": "x", "problem": "slow"}', 422), (b"{", 422), (b"x" * 5000, 413)]
)
def test_report_answers_carry_the_same_headers(db, body, status):
    """JSON reports are answered in front of the router (ronda/web/report_lane.py), still
    inside the middleware that adds these."""
    tls = client(db, public_url="https://status.shop.test")
    answer = tls.request("POST", "/api/v1/reports", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin" and answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
    assert "content-security-policy" not in answer.headers  # JSON, no page


def test_hsts_when_ronda_is_reached_over_tls(db):
    answer = client(db, public_url="https://status.shop.test").get("/status")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_no_page_of_ronda_runs_inline_script():
    """The policy forbids inline script, so none may be written: a template with one would
    silently stop working in browsers."""
    from ronda.web.templating import TEMPLATES

    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "javascript:" not in text, template.name
        for opening in text.split("<script")[1:]:
            assert 'src="' in opening.split(">")[0], f"{template.name}: inline <script>"
        assert " onclick=" not in text and " onload=" not in text and " onsubmit=" not in text, template.name


def test_links_follow_public_url_never_the_host_a_request_names(db):
    forged = {"host": "evil.test"}
    without = client(db).get("/status/summary.json", headers=forged).json()
    assert without["page"]["url"] == "http://127.0.0.1:8080/status/default"  # where ronda listens
    configured = client(db, public_url="https://status.shop.test/").get("/status/summary.json", headers=forged)
    assert configured.json()["page"]["url"] == "https://status.shop.test/status/default"
