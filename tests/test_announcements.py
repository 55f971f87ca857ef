"""Public posts that wait for a person, and the operator's subscribers: a status page's
channel with `approve: true` gets drafts, listed on /announcements by the channel's name
(never its secret URL); an editor approves them with edited words (sent at once by a real
`ronda run`) or discards them, a viewer only looks; an admin exports the subscribers
(never their tokens) and erases an address everywhere, with what was still to be sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from ronda.config.schema import Config
from ronda.storage.database import Database
from ronda.storage.models import OutboxRow
from ronda.storage.outbox import NotADraft
from ronda.storage.subscribers import Subscriber
from ronda.web.app import create_app
from ronda.web.context import WebContext
from tests.asgi import AppClient
from tests.receivers import WebhookReceiver
from tests.support import RondaProcess, free_port, wait_for
from tests.test_accounts import Browser, csrf_of, log_in

TOKEN = "announcements-token-0123456789"
PASSWORD = "correct horse battery"
SECRET_URL = "json://hooks.example.org/s3cret-path?token=hush"
HOOK_URL = "json://127.0.0.1:9/hook"
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def config(hook_url: str = HOOK_URL) -> Config:
    return Config.model_validate(
        {
            "monitors": [{"name": "shop", "url": "https://shop.test/"}],
            "status_pages": [
                {
                    "slug": "public",
                    "title": "Example services",
                    "subscribe": {"webhooks": True},
                    "announce": [
                        {"url": hook_url, "approve": True, "name": "town-square"},
                        {"url": SECRET_URL, "approve": True},
                    ],
                },
                {"slug": "other", "title": "Other services", "subscribe": {"webhooks": True}},
            ],
        }
    )


class World:
    """A store with a user of each role, their tokens, and the app over it."""

    def __init__(self, store: Database) -> None:
        self.store = store
        self.sessions = sessionmaker(store.engine, expire_on_commit=False)
        self.notified = 0
        self.ctx = WebContext(store, TOKEN, config=config(), notify=self._notify, clock=lambda: NOW)
        self.app = create_app(self.ctx)
        self.tokens = {}
        for role in ("viewer", "editor", "admin"):
            user = store.accounts.add_user(role, PASSWORD, role)
            self.tokens[role] = store.accounts.create_token(f"{role}'s", user.id, role)[0]

    def _notify(self) -> None:
        self.notified += 1

    def client(self, role: str) -> AppClient:
        return AppClient(self.app, {"Authorization": f"Bearer {self.tokens[role]}"})

    def draft(self, title: str, body: str, channel: str = "announce:public:0", incident: int = 7) -> int:
        with self.sessions.begin() as session:
            row = OutboxRow(
                source=f"public:incident:{incident}:opened",
                channel=channel,
                title=title,
                body=body,
                kind="failure",
                status="draft",
                attempts=0,
                created_at=NOW - timedelta(minutes=5),
                next_attempt_at=NOW - timedelta(minutes=5),
                deadline_at=NOW - timedelta(minutes=1),  # a draft outlives its first deadline
            )
            session.add(row)
            session.flush()
            return row.id

    def row(self, row_id: int) -> OutboxRow:
        with self.sessions() as session:
            found = session.get(OutboxRow, row_id)
            assert found is not None
            return found


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    store = Database(store_url)
    yield World(store)
    store.close()


def test_drafts_are_listed_by_page_and_channel_name_never_the_channels_url(world):
    first = world.draft("[Example services] Investigating: Shop", "We are looking into it.")
    world.draft("[Example services] Resolved: Shop", "Fine again.", channel="announce:public:1", incident=8)
    page = world.client("viewer").get("/announcements").text
    assert "town-square" in page and HOOK_URL not in page and "127.0.0.1:9" not in page
    assert "json://hooks.example.org" in page, "a channel without a name: its scheme and host"
    assert "s3cret" not in page and "hush" not in page
    assert "Example services" in page and "We are looking into it." in page and "Fine again." in page
    assert page.index("Investigating: Shop") < page.index("Resolved: Shop"), "oldest first"
    assert 'href="/announcements"' in page and "Announcements <span" in page and "(2)</span>" in page
    assert "/approve" not in page and "/discard" not in page, "a viewer only looks"
    editor = world.client("editor").get("/announcements").text
    assert f'action="/announcements/{first}/approve"' in editor and f'action="/announcements/{first}/discard"' in editor
    listed = world.client("viewer").get("/api/v1/announcements", params={"status": "draft"}).json()
    assert [(p["id"], p["page"], p["channel_name"], p["status"]) for p in listed] == [
        (first, "public", "town-square", "draft"),
        (first + 1, "public", "json://hooks.example.org", "draft"),
    ]
    assert "s3cret" not in str(listed)


def test_an_editor_approves_a_draft_with_edited_words_and_it_is_due_now(world):
    row_id = world.draft("[Example services] Investigating: Shop", "We are looking into it.")
    answer = world.client("editor").request(
        "POST",
        f"/announcements/{row_id}/approve",
        data={"title": "Shop: payments fail", "body": "Card payments fail.\r\nWe are on it."},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/announcements?done=approved"
    row = world.row(row_id)
    assert (row.status, row.title, row.body) == ("pending", "Shop: payments fail", "Card payments fail.\nWe are on it.")
    assert row.next_attempt_at == NOW and row.deadline_at == NOW + timedelta(seconds=world.ctx.config.notify_deadline)
    assert world.notified == 1, "the sender is woken to deliver it at once"
    assert row_id in [p.id for p in world.store.outbox.pending()]
    page = world.client("editor").get("/announcements?done=approved").text
    assert "Approved: the post is on its way." in page and "No post waits for approval." in page
    assert "Announcements <span" not in page, "no count once nothing waits"

    again = world.client("editor").request(
        "POST", f"/announcements/{row_id}/approve", data={"title": "x", "body": "y"}, follow_redirects=False
    )
    assert again.headers["location"] == "/announcements?done=gone"
    assert "no longer a draft" in world.client("editor").get(again.headers["location"]).text
    api = world.client("editor").request("POST", f"/api/v1/announcements/{row_id}/approve", json={})
    assert api.status_code == 409 and api.json()["detail"] == f"post {row_id} is no longer a draft (it is pending)"
    assert world.row(row_id).title == "Shop: payments fail", "a second approval changes nothing"
    assert world.client("editor").request("POST", "/api/v1/announcements/999/approve").status_code == 404


def test_the_api_approves_as_written_or_edited_and_discards(world):
    kept, edited, dropped = (world.draft(f"title {n}", f"body {n}", incident=n) for n in (1, 2, 3))
    editor = world.client("editor")
    as_written = editor.request("POST", f"/api/v1/announcements/{kept}/approve")
    assert as_written.status_code == 200, as_written.text
    assert (as_written.json()["status"], as_written.json()["title"]) == ("pending", "title 1")
    changed = editor.request("POST", f"/api/v1/announcements/{edited}/approve", json={"body": "new words"})
    assert (changed.json()["title"], changed.json()["body"]) == ("title 2", "new words")
    discarded = editor.request("POST", f"/api/v1/announcements/{dropped}/discard")
    assert discarded.status_code == 200 and discarded.json()["status"] == "discarded"
    assert dropped not in [p.id for p in world.store.outbox.pending()], "a discarded post is never sent"
    assert editor.request("POST", f"/api/v1/announcements/{dropped}/discard").status_code == 409
    assert [p["id"] for p in editor.get("/api/v1/announcements?status=discarded").json()] == [dropped]
    assert [p["id"] for p in editor.get("/api/v1/announcements?status=pending").json()] == [edited, kept]
    with pytest.raises(NotADraft, match="no longer a draft"):
        world.store.outbox.discard(kept)
    assert world.store.outbox.drafts() == []


def test_a_viewer_can_neither_approve_nor_discard(world):
    row_id = world.draft("title", "body")
    viewer = world.client("viewer")
    for path, kwargs in [
        (f"/announcements/{row_id}/approve", {"data": {"title": "mine", "body": "mine"}}),
        (f"/announcements/{row_id}/discard", {}),
        (f"/api/v1/announcements/{row_id}/approve", {"json": {"title": "mine"}}),
        (f"/api/v1/announcements/{row_id}/discard", {}),
    ]:
        answer = viewer.request("POST", path, follow_redirects=False, **kwargs)
        assert answer.status_code == 403 and "needs the editor role" in answer.json()["detail"], path
    assert (world.row(row_id).status, world.row(row_id).title) == ("draft", "title")
    assert world.notified == 0


def test_a_logged_in_editors_form_needs_the_sessions_csrf_token(world):
    row_id = world.draft("title", "body")
    browser = Browser(world.app)
    try:
        assert log_in(browser, "editor", PASSWORD).status_code == 303
        page = browser.get("/announcements")
        forged = browser.post(f"/announcements/{row_id}/discard", data={"csrf_token": "x"}, follow_redirects=False)
        assert forged.status_code == 403 and world.row(row_id).status == "draft"
        taken = browser.post(
            f"/announcements/{row_id}/discard", data={"csrf_token": csrf_of(page)}, follow_redirects=False
        )
        assert taken.headers["location"] == "/announcements?done=discarded"
        assert world.row(row_id).status == "discarded"
    finally:
        browser.close()


def subscribe(store: Database, page: str, address: str, confirmed: bool = True) -> Subscriber:
    def compose(subscriber: Subscriber, _already: bool) -> tuple[str, str, str, str]:
        return f"subscribe:{subscriber.id}", "Confirm", "Open the link", "info"

    asked = store.subscribers.ask(
        page, "webhook", address, None, "en", NOW, timedelta(days=2), compose, timedelta(days=1)
    )
    if confirmed:
        store.subscribers.confirm(asked.subscriber.token, NOW)
    return asked.subscriber


def test_an_admin_exports_the_subscribers_without_their_tokens(world):
    ada = subscribe(world.store, "public", "https://ada.example/hook")
    bob = subscribe(world.store, "public", "https://bob.example/hook", confirmed=False)
    cyd = subscribe(world.store, "other", "https://cyd.example/hook")
    admin = world.client("admin")
    everyone = admin.get("/api/v1/subscribers")
    assert everyone.status_code == 200
    assert [(s["id"], s["page"], s["address"]) for s in everyone.json()] == [
        (ada.id, "public", "https://ada.example/hook"),
        (bob.id, "public", "https://bob.example/hook"),
        (cyd.id, "other", "https://cyd.example/hook"),
    ]
    first = everyone.json()[0]
    assert set(first) == {"id", "page", "kind", "address", "components", "language", "created_at", "confirmed_at"}
    assert everyone.json()[1]["confirmed_at"] is None
    assert not any(s.token in everyone.text for s in (ada, bob, cyd)), "never a subscriber's token"
    assert [s["id"] for s in admin.get("/api/v1/subscribers?page=other").json()] == [cyd.id]
    assert world.client("editor").get("/api/v1/subscribers").status_code == 403

    page = admin.get("/announcements").text
    row = re.search(r"Example services</a></td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>", page)
    assert row and row.groups() == ("1", "1"), "confirmed, waiting"
    assert 'href="/api/v1/subscribers?page=public"' in page and ">Export</a>" in page
    assert ">Export</a>" not in world.client("editor").get("/announcements").text, "the export is an admin's"


def test_erasing_an_address_removes_every_subscription_of_it_and_what_was_to_be_sent(world):
    gone = [subscribe(world.store, page, "https://ada.example/hook") for page in ("public", "other")]
    kept = subscribe(world.store, "public", "https://bob.example/hook")

    def channels() -> set[str]:
        with world.sessions() as session:
            return set(session.scalars(select(OutboxRow.channel).where(OutboxRow.status == "pending")))

    assert {s.channel for s in [*gone, kept]} <= channels()
    admin = world.client("admin")
    assert world.client("editor").request("DELETE", "/api/v1/subscribers?address=x").status_code == 403
    erased = admin.request("DELETE", "/api/v1/subscribers", params={"address": "https://ada.example/hook"})
    assert erased.status_code == 200 and erased.json() == {"deleted": 2}
    assert [s.address for s in world.store.subscribers.listing()] == ["https://bob.example/hook"]
    assert channels() == {kept.channel}, "the erased subscribers' pending rows went with them"
    assert admin.request("DELETE", "/api/v1/subscribers", params={"address": "nobody"}).json() == {"deleted": 0}
    assert admin.request("DELETE", f"/api/v1/subscribers/{kept.id}").json() == {"deleted": 1}
    assert admin.request("DELETE", f"/api/v1/subscribers/{kept.id}").status_code == 404
    assert world.store.subscribers.listing() == [] and channels() == set()


# -- a real `ronda run`: the approved words reach the channel at once ------------------------


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def test_an_approved_draft_reaches_the_public_channel_with_the_edited_words(tmp_path: Path, hook: WebhookReceiver):
    port = free_port()
    db_url = f"sqlite:///{tmp_path / 'ronda.db'}"
    (tmp_path / "ronda.yaml").write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n"
        f"storage: {db_url}\ncanaries: []\ngateway: none\nmonitors: []\n"
        "status_pages:\n  - slug: public\n    title: Example services\n"
        f"    announce:\n      - {{url: '{hook.url}', name: town-square, approve: true}}\n"
    )
    hub = RondaProcess(tmp_path / "ronda.yaml").start()
    store = Database(db_url)
    try:
        sessions = sessionmaker(store.engine)
        now = datetime.now(UTC)
        with sessions.begin() as session:
            row = OutboxRow(
                source="public:incident:7:opened",
                channel="announce:public:0",
                title="as written",
                body="as written",
                kind="failure",
                status="draft",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
                deadline_at=now + timedelta(hours=1),
            )
            session.add(row)
            session.flush()
            row_id = row.id
        listed: list[dict[str, Any]] = hub.api("/api/v1/announcements?status=draft")
        assert [(p["id"], p["channel_name"]) for p in listed] == [(row_id, "town-square")]
        assert hook.messages == [], "a draft is not sent"
        edited = {"title": "Shop: payments fail", "body": "Card payments fail; we are on it."}
        answer: httpx.Response = hub.send("POST", f"/api/v1/announcements/{row_id}/approve", edited)
        assert answer.status_code == 200, answer.text
        wait_for("the approved post", lambda: hook.messages, timeout=10)
        assert [(m["title"], m["message"]) for m in hook.messages] == [(edited["title"], edited["body"])]
        wait_for("the post marked sent", lambda: hub.api("/api/v1/announcements?status=sent"), timeout=10)
    finally:
        store.close()
        hub.stop()
