"""A status page's subscribers, end to end: a visitor subscribes on the page, confirms from
the mail a real SMTP server (aiosmtpd) received, hears of an incident and its resolution in
the page's public words (never the target), and unsubscribes with one click; a webhook
subscriber does the same through a real webhook receiver. `ronda run` is a real process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ronda.config.schema import Config
from ronda.storage.database import Database
from ronda.storage.models import OutboxRow
from ronda.web.public_posts import PublicPosts
from tests.receivers import BreakableSite, MailReceiver, WebhookReceiver
from tests.support import RondaProcess, config_error, free_port, wait_for

LINK = re.compile(r"http://127\.0\.0\.1:\d+/status/public/subscription/[A-Za-z0-9_-]+")


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def hub_config(path: Path, port: int, site: BreakableSite, mail: MailReceiver, hook: WebhookReceiver) -> Path:
    path.write_text(
        f"server:\n  listen: 127.0.0.1:{port}\n  token: ${{RONDA_TOKEN}}\n  public_url: http://127.0.0.1:{port}\n"
        f"storage: sqlite:///{path.parent / 'ronda.db'}\n"
        "canaries: []\ngateway: none\n"
        "defaults:\n  interval: 1s\n  timeout: 2s\n  confirm: 2\n  recover: 2\n"
        "monitors:\n"
        f"  - name: shop\n    url: http://127.0.0.1:{site.port}/shop\n"
        f"  - name: api\n    url: http://127.0.0.1:{site.port}/api\n"
        "status_pages:\n"
        "  - slug: public\n    title: Example Shop\n    monitors: [shop, api]\n"
        "    components: {shop: {name: Web shop}}\n"
        f"    subscribe:\n      email: 'mailto://127.0.0.1:{mail.port}?from=status@example.test'\n"
        "      webhooks: true\n      private_webhooks: true\n"
        f"    announce:\n      - {{url: '{hook.url}?x=town', name: town-square, approve: true}}\n"
    )
    return path


@pytest.fixture
def hub(tmp_path: Path, site: BreakableSite, mail: MailReceiver, hook: WebhookReceiver) -> Iterator[RondaProcess]:
    hub = RondaProcess(hub_config(tmp_path / "ronda.yaml", free_port(), site, mail, hook)).start()
    yield hub
    if hub.proc is not None and hub.proc.poll() is None:
        hub.stop()


def subscribe(hub: RondaProcess, address: str, kind: str = "email", **more: str) -> httpx.Response:
    """As a visitor's browser does: the page (its form token in a cookie and a field), then the form."""
    with httpx.Client(base_url=f"http://127.0.0.1:{hub.port}") as browser:
        page = browser.get("/status/public")
        token = re.search(r'name="form_token" value="([^"]+)"', page.text)
        assert token, "the page carries its form's token"
        form = {"form_token": token.group(1), "kind": kind, "address": address, "lang": "en", **more}
        return browser.post("/status/public/subscribe", data=form)


def mails_to(mail: MailReceiver, address: str) -> list[EmailMessage]:
    return [m for m in mail.messages if address in str(m["To"])]


def resolutions(mail: MailReceiver, address: str) -> list[EmailMessage]:
    return [m for m in mails_to(mail, address) if str(m["Subject"]).startswith("[Example Shop] Resolved: ")]


def text(message: EmailMessage) -> str:
    part = message.get_body(("plain", "html"))
    assert part is not None
    return str(part.get_content())


def test_a_visitor_subscribes_confirms_hears_of_an_incident_and_unsubscribes(hub, site, mail):
    page = httpx.get(f"http://127.0.0.1:{hub.port}/status/public").text
    assert 'action="/status/public/subscribe"' in page and 'href="#subscribe"' in page

    answer = subscribe(hub, "ada@example.test")
    assert answer.status_code == 200 and "we sent a message with a link to confirm" in answer.text
    [asked] = wait_for("the confirmation mail", lambda: mails_to(mail, "ada@example.test"))
    assert "Confirm your subscription to Example Shop" in str(asked["Subject"])
    link = LINK.search(text(asked))
    assert link, text(asked)

    site.broken = True  # before confirming: nothing but the confirmation may reach ada
    wait_for("an incident", lambda: hub.api("/api/v1/incidents?open=true"))
    confirmed = httpx.post(link.group(0), data={"action": "confirm"})
    assert "Your subscription is confirmed." in confirmed.text
    assert len(mails_to(mail, "ada@example.test")) == 1, "an unconfirmed subscriber got an incident"

    site.broken = False
    resolved = wait_for("a resolution mail", lambda: resolutions(mail, "ada@example.test"))
    body = text(resolved[0])
    assert "The service works again." in body and "Affected: " in body
    assert "It lasted " in body
    assert f":{site.port}" not in body and "127.0.0.1/shop" not in body, "a target reached a subscriber"
    assert link.group(0) in body, "every mail carries the link to unsubscribe"
    assert resolved[0]["List-Unsubscribe"] == f"<{link.group(0)}/unsubscribe>"
    assert resolved[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    one_click = httpx.post(f"{link.group(0)}/unsubscribe", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert "no longer valid" in httpx.get(link.group(0)).text
    before = len(mail.messages)
    site.broken = True
    wait_for("a second incident", lambda: hub.api("/api/v1/incidents?open=true"))
    site.broken = False
    wait_for("it to resolve", lambda: not hub.api("/api/v1/incidents?open=true"))
    assert len(mail.messages) == before, "a mail after the one-click unsubscribe"


def test_a_webhook_subscriber_for_one_component_hears_only_of_it(hub, site, hook):
    address = f"http://127.0.0.1:{hook.port}/subscriber"
    assert subscribe(hub, address, kind="webhook", components="api").status_code == 200
    asked = wait_for("the confirmation", lambda: [m for m in hook.messages if "Confirm" in m.get("title", "")])
    link = LINK.search(asked[0]["message"])
    assert link
    httpx.post(link.group(0), data={"action": "confirm"})
    site.broken = True  # the shop and the api fail: the subscriber hears of the api's incident only
    wait_for("the api's incident", lambda: api_failing(hub))
    site.broken = False
    wait_for("it to resolve", lambda: not hub.api("/api/v1/incidents?open=true"))
    wait_for("a resolution", lambda: [m for m in hook.messages if m["title"].startswith("[Example Shop] Resolved:")])
    posts = [m for m in hook.messages if "Confirm" not in m["title"]]
    assert all("api" in m["message"] for m in posts), posts


def api_failing(hub: RondaProcess) -> bool:
    """An open incident the api is part of (its own, or the shop's it joined)."""
    incidents = hub.api("/api/v1/incidents?open=true")
    joined = [u for i in incidents for u in i["updates"] if u["kind"] == "joined" and u["message"].startswith("api")]
    return bool(joined) or any(i["monitor"] == "api" for i in incidents)


def test_the_same_answer_whoever_is_asked_for_and_strangers_are_limited(hub, mail):
    first = subscribe(hub, "Bob@Example.TEST")
    again = subscribe(hub, "bob@example.test")
    assert first.text == again.text, "the answer tells nobody whether the address was known"
    kept = [s["address"] for s in hub.api("/api/v1/subscribers") if s["kind"] == "email"]
    assert kept == ["bob@example.test"], "one mailbox, however its address was typed"
    erased = hub.send("DELETE", "/api/v1/subscribers?address=BOB@example.test")
    assert erased.json() == {"deleted": 1}
    wrong = subscribe(hub, "not an address")
    assert wrong.status_code == 422 and "That is not an e-mail address." in wrong.text
    private = subscribe(hub, "http://10.0.0.1/hook", kind="webhook")
    assert private.status_code == 200, "this page allows private webhooks"
    answers = [subscribe(hub, f"visitor{n}@example.test").status_code for n in range(5)]
    assert 429 in answers, "one address asked for more than the page's per_source"


# -- maintenance windows, as the store writes their posts ------------------------------------

START = datetime(2031, 3, 10, 22, 0, tzinfo=UTC)  # a moment of the test's own: every part is given it


def maintenance_config(*, announce: bool = True) -> Config:
    return Config.model_validate(
        {
            "monitors": [
                {"name": "shop", "url": "https://shop.example.test/"},
                {"name": "billing", "url": "https://billing.example.test/"},
            ],
            "maintenance": [
                {
                    "name": "database upgrade",
                    "start": START.isoformat(),
                    "end": (START + timedelta(hours=2)).isoformat(),
                    "monitors": ["shop"],
                    "announce": announce,
                },
                {
                    "name": "billing move",
                    "start": START.isoformat(),
                    "end": (START + timedelta(hours=1)).isoformat(),
                    "monitors": ["billing"],
                },
            ],
            "status_pages": [
                {
                    "slug": "public",
                    "title": "Example Shop",
                    "monitors": ["shop"],
                    "components": {"shop": {"name": "Web shop"}},
                    "subscribe": {"email": "mailto://127.0.0.1:2525?from=status@example.test"},
                    "announce": [{"url": "json://127.0.0.1:9/hook", "name": "town-square"}],
                }
            ],
        }
    )


@pytest.fixture
def store(store_url: str) -> Iterator[Database]:
    store = Database(store_url)
    yield store
    store.close()


def subscribed(store: Database, address: str, language: str) -> None:
    def compose(subscriber: Any, already: bool) -> tuple[str, str, str, str]:
        return f"subscribe:{subscriber.id}", "confirm", "confirm", "info"

    asked = store.subscribers.ask(
        "public",
        "email",
        address,
        None,
        language,
        START - timedelta(days=9),
        timedelta(days=30),
        compose,
        timedelta(days=1),
    )
    store.subscribers.confirm(asked.subscriber.token, START - timedelta(days=9))


def posts_at(store: Database, posts: PublicPosts, at: datetime) -> list[tuple[str, str, str]]:
    """What a look at `at` wrote: (channel, title, body) of each new row."""
    before = {entry.id for entry in store.outbox.listing(limit=1000)}
    store.outbox.write(partial(posts.maintenance_rows, now=at))
    with store.outbox._sessions() as session:  # the bodies: the API lists titles only
        rows = session.scalars(select(OutboxRow).order_by(OutboxRow.id)).all()
        return [(r.channel, r.title, r.body) for r in rows if r.id not in before]


def test_maintenance_is_told_when_scheduled_when_it_starts_and_when_it_is_over(store):
    subscribed(store, "ada@example.test", "en")
    subscribed(store, "bea@example.test", "it")
    posts = PublicPosts(maintenance_config())

    scheduled = posts_at(store, posts, START - timedelta(days=2))
    assert sorted(channel for channel, _, _ in scheduled) == ["announce:public:0", "subscriber:1", "subscriber:2"]
    english = next(body for channel, _, body in scheduled if channel == "subscriber:1").replace("\u202f", " ")
    assert "Web shop: planned maintenance from Mar 10, 2031, 10:00:00 PM to Mar 11, 2031, 12:00:00 AM." in english
    assert "unsubscribe" in english and "billing" not in english, "a window on no component of the page is not told"
    italian = next(title for channel, title, _ in scheduled if channel == "subscriber:2")
    assert italian == "[Example Shop] Manutenzione programmata: database upgrade"

    assert posts_at(store, posts, START - timedelta(days=1)) == [], "told once"
    started = posts_at(store, posts, START + timedelta(minutes=1))
    assert {title for _, title, _ in started} >= {"[Example Shop] Maintenance in progress: database upgrade"}
    over = posts_at(store, posts, START + timedelta(hours=2, minutes=1))
    assert {title for _, title, _ in over} >= {"[Example Shop] Maintenance completed: database upgrade"}
    assert posts_at(store, posts, START + timedelta(hours=2, minutes=2)) == []


def test_a_window_not_to_announce_or_one_whose_start_was_never_told_stays_quiet(store):
    subscribed(store, "ada@example.test", "en")
    assert posts_at(store, PublicPosts(maintenance_config(announce=False)), START + timedelta(minutes=1)) == []
    told = PublicPosts(maintenance_config())
    assert posts_at(store, told, START + timedelta(hours=2, minutes=1)) == [], "its end, with no start told"


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("    subscribe: {per_source: 3}\n", ":6: status_pages[0].subscribe: offers no way to subscribe"),
        (
            "    subscribe: {email: 'smtp://mail.example.test'}\n",
            ":6: status_pages[0].subscribe.email: expected the SMTP server as an Apprise mailto://",
        ),
        (
            "    announce: [{url: 'nothing-apprise-knows://x'}]\n",
            ":6: status_pages[0].announce[0].url: not a notification",
        ),
    ],
    ids=["a way to subscribe", "an SMTP URL Apprise reads", "a public channel Apprise reaches"],
)
def test_subscription_settings_are_checked_at_load_by_place(tmp_path, page, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(
        "monitors:\n  - {name: shop, url: 'https://shop.example.test/'}\nstatus_pages:\n"
        "  - slug: public\n    title: Shop\n" + page
    )
    assert message in config_error(str(path))
