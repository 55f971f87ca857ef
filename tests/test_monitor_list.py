"""GET /api/v1/monitors narrowed and paged: by status, tag and text, a page at a time with
a `Link: rel="next"` header, the whole list still by default (the contract's shape)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from ronda.config.schema import Config
from ronda.rules.incidents import Policy
from ronda.storage.database import Database
from ronda.verdict import Verdict
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient

TOKEN = "monitor-list-token-0123456789"
AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _client(store_url: str) -> tuple[AppClient, Database]:
    monitors = [
        {"name": f"shop-{i:02d}", "url": f"https://shop-{i:02d}.test/", "tags": ["shops"] if i % 2 else []}
        for i in range(10)
    ] + [{"name": "mail_relay", "url": "tcp://relay.test:25"}]
    config = Config.model_validate({"server": {"token": TOKEN}, "monitors": monitors})
    db = Database(store_url)
    db.monitors.sync({m.name: m.target_url() for m in config.monitors})
    for i in (3, 4, 7):  # three shops down
        verdict = Verdict(f"https://shop-{i:02d}.test/", "down", "tcp_refused", "refused", AT, 1.0, ())
        db.monitors.record(f"shop-{i:02d}", verdict, Policy(confirm=1))
    app = create_app(WebContext(db, TOKEN, config=config))
    return AppClient(app, {"Authorization": f"Bearer {TOKEN}"}), db


def _names(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [monitor["name"] for monitor in answer.json()]


def test_the_list_narrows_by_status_tag_and_text_and_pages_with_a_next_link(store_url):
    client, db = _client(store_url)
    try:
        assert len(_names(client.get("/api/v1/monitors"))) == 11, "no parameter: every monitor, as before"
        assert "link" not in client.get("/api/v1/monitors").headers
        assert _names(client.get("/api/v1/monitors?status=down")) == ["shop-03", "shop-04", "shop-07"]
        assert _names(client.get("/api/v1/monitors?tag=shops&status=down")) == ["shop-03", "shop-07"]
        assert _names(client.get("/api/v1/monitors?q=RELAY")) == ["mail_relay"], "any case, the target too"
        assert _names(client.get("/api/v1/monitors?q=_")) == ["mail_relay"], "a wildcard of SQL is a plain character"
        assert _names(client.get("/api/v1/monitors?tag=nobody")) == []

        pages, path = [], "/api/v1/monitors?tag=shops&limit=2"
        while path:
            answer = client.get(path)
            pages.append(_names(answer))
            link = answer.headers.get("link")
            path = re.fullmatch(r'<(/api/v1/monitors\?[^>]+)>; rel="next"', link).group(1) if link else ""
        assert pages == [["shop-01", "shop-03"], ["shop-05", "shop-07"], ["shop-09"]]

        refused = client.get("/api/v1/monitors?status=sideways")
        assert refused.status_code == 422 and "status" in refused.text
    finally:
        db.close()
