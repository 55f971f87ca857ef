"""Notifications: channels and routing, the outbox that survives crashes and restarts, retries
with backoff until a deadline, storm digests, and what the messages say. The decisions are
tested as pure functions; the rest against `ronda run` as a process, with a real webhook
receiver and a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ronda.config.channel_urls import shown
from ronda.config.load import load_config
from ronda.errors import ConfigError
from ronda.notify.channels import Channel, route
from ronda.notify.messages import digest_message
from ronda.notify.outbox import OutboxSettings
from ronda.notify.retry import Backoff
from ronda.notify.sender import plan
from ronda.rules.incidents import Event
from ronda.storage.outbox import Pending, incident_source, opened_incident
from ronda.world.web import WebServer
from tests.receivers import WebhookReceiver
from tests.support import free_port, wait_for
from tests.test_service import RondaProcess

# -- backoff, routing, sources and planning: pure ------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, 5.0), (2, 10.0), (3, 20.0), (4, 40.0), (7, 320.0), (8, 600.0), (30, 600.0), (10_000, 600.0)],
    ids=lambda v: str(v),
)
def test_the_wait_doubles_from_the_first_and_stops_at_the_cap(attempts, expected):
    assert Backoff(first=5.0, max=600.0).delay(attempts, jitter=0.0) == expected


@pytest.mark.parametrize("attempts", [1, 2, 5, 9, 50])
def test_jitter_shortens_the_wait_by_at_most_a_quarter_and_never_passes_the_cap(attempts):
    backoff = Backoff(first=0.2, max=1.0)
    plain = backoff.delay(attempts, 0.0)
    for jitter in (0.0, 0.3, 0.999):
        assert 0.75 * plain <= backoff.delay(attempts, jitter) <= plain <= 1.0


OPS = Channel("ops", "json://127.0.0.1/hook")
DB = Channel("db", "json://127.0.0.1/db", tags=frozenset({"db"}))
PAGER = Channel("pager", "json://127.0.0.1/pager", min_severity="down")
WARNINGS = Channel("warnings", "json://127.0.0.1/warn", tags=frozenset({"web"}), min_severity="warning")


@pytest.mark.parametrize(
    ("severity", "tags", "expected"),
    [
        ("down", [], ["ops", "pager"]),
        ("down", ["db"], ["ops", "db", "pager"]),
        ("degraded", ["db"], ["ops", "db"]),
        ("warning", ["web", "db"], ["ops", "db", "warnings"]),
        ("info", ["web"], ["ops"]),
    ],
    ids=[
        "a channel without tags hears about every monitor",
        "a tagged channel hears about monitors with its tag",
        "min_severity down drops a degraded incident",
        "a warning reaches channels at warning or below, for any shared tag",
        "info reaches only the channels that take everything",
    ],
)
def test_a_notice_goes_to_channels_whose_tags_and_severity_admit_it(severity, tags, expected):
    assert [c.name for c in route([OPS, DB, PAGER, WARNINGS], severity, tags)] == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mailto://user:s3cret@mail.example.com:587?to=ops@example.com", "mailto://mail.example.com"),
        ("json://127.0.0.1:9000/hook?token=s3cret", "json://127.0.0.1"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack://…"),
        ("tgram://123456789:AAHs3cret/12315544", "tgram://…"),
    ],
    ids=["a password", "a query token", "tokens in the host's place", "a bot token"],
)
def test_a_url_is_shown_as_scheme_and_host_without_its_secrets(url, expected):
    assert shown(url) == expected


def test_a_source_names_the_event_and_repeatable_events_their_place_in_the_timeline():
    assert incident_source(7, Event.OPENED, 2) == "incident:7:opened"
    assert incident_source(7, Event.CAUSE_CHANGED, 3) == "incident:7:cause_changed:3"
    assert incident_source(7, Event.RESOLVED, 4) == "incident:7:resolved:4"
    assert opened_incident("incident:7:opened") == 7
    assert opened_incident("incident:7:resolved:4") is None
    assert opened_incident("certificate:ab12:cert_expiring") is None


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def pending(row_id: int, source: str, due_in: float = 0.0, written_ago: float = 0.0) -> Pending:
    """A row never tried, written `written_ago` seconds before NOW, due `due_in` after it."""
    due, written = NOW + timedelta(seconds=due_in), NOW - timedelta(seconds=written_ago)
    return Pending(row_id, source, "ops", f"title {row_id}", "body", "failure", 0, due, written)


def test_nothing_is_sent_before_a_row_is_due():
    assert plan([pending(1, "incident:1:opened", due_in=5)], NOW, OutboxSettings()) == []


def test_a_held_opening_goes_before_its_own_resolution_which_is_due():
    rows = [pending(1, "incident:1:opened", due_in=5), pending(2, "incident:1:resolved:4")]
    assert [[r.id for r in batch.rows] for batch in plan(rows, NOW, OutboxSettings())] == [[1], [2]]


def test_a_row_waiting_out_a_failure_keeps_its_time_and_does_not_hold_up_later_rows():
    failed = Pending(1, "incident:1:opened", "ops", "t", "b", "failure", 3, NOW + timedelta(seconds=30), NOW)
    rows = [failed, pending(2, "certificate:ab:cert_expiring")]
    assert [[r.id for r in batch.rows] for batch in plan(rows, NOW, OutboxSettings())] == [[2]]


def test_more_openings_than_the_storm_threshold_due_within_a_minute_are_one_digest():
    rows = [pending(1, "certificate:ab:cert_expiring")]
    rows += [pending(i, f"incident:{i}:opened", due_in=i) for i in range(2, 14)]  # 12 openings, spread 12 s
    rows += [pending(14, "incident:2:resolved:5", due_in=0), pending(15, "incident:99:opened", due_in=120)]
    batches = plan(rows, NOW, OutboxSettings(storm=10))
    assert [(batch.digest, [r.id for r in batch.rows]) for batch in batches] == [
        (False, [1]),
        (True, list(range(2, 14))),  # not 15: it falls due outside the minute
        (False, [14]),
    ]


def test_an_opening_outside_a_storm_goes_at_once_and_alone():
    batches = plan([pending(1, "incident:1:opened"), pending(2, "incident:2:opened")], NOW, OutboxSettings(storm=10))
    assert [(batch.digest, [r.id for r in batch.rows]) for batch in batches] == [(False, [1]), (False, [2])]


def test_openings_held_for_a_storm_leave_together_when_the_first_comes_due():
    rows = [
        pending(1, "incident:1:opened", due_in=0, written_ago=5),  # held 5 s: due now
        pending(2, "incident:2:opened", due_in=3, written_ago=2),
        pending(3, "incident:3:opened", due_in=4, written_ago=1),
    ]
    batches = plan(rows, NOW, OutboxSettings(storm=10, storm_wait=5))
    assert [(batch.digest, [r.id for r in batch.rows]) for batch in batches] == [(True, [1, 2, 3])]


def test_a_lone_opening_held_for_a_storm_goes_alone():
    batches = plan([pending(1, "incident:1:opened", due_in=0, written_ago=5)], NOW, OutboxSettings(storm=10))
    assert [(batch.digest, [r.id for r in batch.rows]) for batch in batches] == [(False, [1])]


def test_as_many_openings_as_the_threshold_go_one_by_one():
    rows = [pending(i, f"incident:{i}:opened") for i in range(1, 11)]
    assert all(not batch.digest for batch in plan(rows, NOW, OutboxSettings(storm=10)))


def test_a_digest_names_each_monitor_with_its_cause():
    opened = [("shop", "tcp_refused"), ("api", "http_server_error"), ("db", None), ("mail", "tcp_timeout")]
    message = digest_message(opened, "https://ronda.example.test/")
    assert (
        message.title
        == "[ronda] 4 incidents opened: shop (tcp_refused), api (http_server_error), db (unknown) and 1 more"
    )
    assert message.body.startswith("4 incidents opened: shop (tcp_refused), api (http_server_error), db (unknown), ")
    assert "https://ronda.example.test/status" in message.body


# -- config ------------------------------------------------------------------------------


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None):
    path = tmp_path / "ronda.yaml"
    path.write_text(text)
    return load_config(str(path), environ or {})


def test_plain_urls_are_channels_named_by_place_and_objects_name_their_own(tmp_path):
    config = load(
        tmp_path,
        "notify:\n  - json://127.0.0.1:9000/hook\n"
        "  - {name: ops, url: 'mailto://127.0.0.1:2525?from=a@example.test&to=b@example.test',"
        " tags: [web, db], min_severity: degraded, deadline: 1h}\n"
        "  - url: json://127.0.0.1:9001/hook\n"
        "notify_retry: {first: 200ms, max: 1s}\nnotify_storm: 3\n"
        "monitors:\n  - {name: db, url: 'tcp://127.0.0.1:5432', tags: [db]}\n",
    )
    first, ops, third = config.notify
    assert (first.name, first.tags, first.min_severity, first.deadline) == ("notify[0]", [], "info", None)
    assert (ops.name, ops.tags, ops.min_severity, ops.deadline) == ("ops", ["web", "db"], "degraded", 3600.0)
    assert third.name == "notify[2]"
    assert (config.notify_retry.first, config.notify_retry.max, config.notify_storm) == (0.2, 1.0, 3)
    assert config.notify_deadline == 86400.0
    assert config.monitors[0].tags == ["db"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "notify:\n  - json://127.0.0.1:9000/hook\n  - nope://admin:hunter2@alerts.example.com/x\n",
            ":3: notify[1].url: not a notification URL Apprise can use: nope://alerts.example.com",
        ),
        (
            "notify:\n  - name: chat\n    url: 'discord://${DISCORD_TOKEN}'\n",
            ":3: notify[0].url: not a notification URL Apprise can use: discord://…",
        ),
        (
            "notify:\n  - {name: ops, url: json://127.0.0.1/a}\n  - {name: ops, url: json://127.0.0.1/b}\n",
            ":2: notify: notify[0] and notify[1] are both named 'ops'",
        ),
        (
            "notify:\n  - {url: json://127.0.0.1/a, min_severity: critical}\n",
            ":2: notify[0].min_severity: Input should be 'info', 'warning', 'degraded' or 'down'",
        ),
        ("notify:\n  - {url: json://127.0.0.1/a, tag: [db]}\n", ":2: notify[0].tag: unknown key"),
    ],
    ids=[
        "an unusable URL, named by scheme and host only",
        "a secret from the environment stays secret",
        "two channels with one name",
        "a severity that does not exist",
        "a misspelt key",
    ],
)
def test_a_bad_notify_entry_names_file_line_and_field_and_never_a_secret(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, {"DISCORD_TOKEN": "hunter2"})
    assert expected in str(caught.value)
    assert "hunter2" not in str(caught.value)


# -- ronda run, with real receivers --------------------------------------------------------


@pytest.fixture
def hooks() -> Iterator[Callable[[], WebhookReceiver]]:
    started: list[WebhookReceiver] = []

    def start() -> WebhookReceiver:
        started.append(WebhookReceiver())
        return started[-1]

    yield start
    for hook in started:
        hook.close()


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """A config whose notices retry within a second and whose openings wait 200 ms for a
    storm (the storm test waits longer)."""

    def config(monitors: str, notify: str, extra: str = "") -> Path:
        path = tmp_path / "ronda.yaml"
        path.write_text(
            f"server:\n  listen: 127.0.0.1:{free_port()}\n  token: ${{RONDA_TOKEN}}\n"
            "  public_url: https://ronda.example.test/\n"
            "storage: sqlite:///ronda.db\n"
            "defaults:\n  interval: 200ms\n  timeout: 2s\n  confirm: 2\n"
            "notify_retry: {first: 200ms, max: 1s}\nnotify_storm_wait: 200ms\n"
            "canaries: []\n"  # no default canaries: the gateway is the machine's, not the test's
            f"{extra}notify:\n{notify}monitors:\n{monitors}"
        )
        return path

    return config


def refused(name: str, tags: str = "[]") -> str:
    """A monitor of a port where nothing listens: down, tcp_refused, from the first check."""
    return f"  - {{name: {name}, url: 'tcp://127.0.0.1:{free_port()}', tags: {tags}}}\n"


def sources_by_channel(ronda: RondaProcess, status: str = "sent") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in ronda.api(f"/api/v1/notifications?status={status}"):
        out.setdefault(row["channel"], []).append(row["source"])
    return out


def test_an_opened_incident_reaches_the_webhook_and_the_mail_server(write, hooks, mail):
    hook = hooks()
    config = write(refused("db"), f"  - {hook.url}\n  - {{name: mail, url: '{mail.url()}'}}\n")
    ronda = RondaProcess(config).start()
    try:
        [message] = wait_for("the webhook's notice", lambda: hook.messages)
        [letter] = wait_for("the mail", lambda: mail.messages)
    finally:
        ronda.stop()
    assert message["title"] == "[ronda] db is failing: tcp_refused"
    body = message["message"]
    assert "nothing is listening" in body, "the summary in plain words"
    assert "Scope: " in body and "Failing since " in body
    assert "https://ronda.example.test/status#incident-1" in body
    assert letter["Subject"] == "[ronda] db is failing: tcp_refused"
    assert (letter["From"], letter["To"]) == ("ronda@example.test", "ops@example.test")
    text = letter.get_body(("plain",))
    assert text is not None and "https://ronda.example.test/status#incident-1" in text.get_content()


def test_a_db_monitors_incident_goes_only_to_the_db_channel_and_the_untagged_one(write, hooks):
    web, db, everything = hooks(), hooks(), hooks()
    notify = (
        f"  - {{name: web, url: '{web.url}', tags: [web]}}\n"
        f"  - {{name: db, url: '{db.url}', tags: [db]}}\n"
        f"  - {{name: all, url: '{everything.url}'}}\n"
    )
    ronda = RondaProcess(write(refused("postgres", "[db, primary]"), notify)).start()
    try:
        wait_for("the db channel's notice", lambda: db.messages and everything.messages)
        assert sources_by_channel(ronda) == {"db": ["incident:1:opened"], "all": ["incident:1:opened"]}
        assert sources_by_channel(ronda, "pending") == {}
    finally:
        ronda.stop()
    assert web.messages == [], "no row was written for the web channel, so nothing can come later"
    assert db.messages[0]["title"] == "[ronda] postgres is failing: tcp_refused"


def test_min_severity_down_drops_a_degraded_incident_but_not_a_down_one(write, hooks, web: Callable[..., WebServer]):
    pager, chat = hooks(), hooks()
    site = web()  # on 127.0.0.1 only: the name's second address refuses, so the site is degraded
    half = (
        f"  - name: shop\n    url: http://shop.test:{site.port}/\n"
        f'    resolve: {{"shop.test:{site.port}": ["127.0.0.1", "127.0.0.2"]}}\n'
    )
    notify = f"  - {{name: pager, url: '{pager.url}', min_severity: down}}\n  - {{name: chat, url: '{chat.url}'}}\n"
    ronda = RondaProcess(write(half + refused("db"), notify)).start()
    try:
        wait_for("both incidents told to chat", lambda: len(chat.messages) == 2)
        incidents = {i["monitor"]: i for i in ronda.api("/api/v1/incidents?open=true")}
        assert (incidents["shop"]["severity"], incidents["db"]["severity"]) == ("degraded", "down")
        sent = sources_by_channel(ronda)
        assert sorted(sent["chat"]) == sorted(f"incident:{i['id']}:opened" for i in incidents.values())
        assert sent["pager"] == [f"incident:{incidents['db']['id']}:opened"]
    finally:
        ronda.stop()
    assert [m["title"] for m in pager.messages] == ["[ronda] db is failing: tcp_refused"]


def test_a_notice_for_a_failing_receiver_waits_in_the_outbox_across_a_restart(write, hooks):
    hook = hooks()
    hook.fail()  # until healed
    config = write(refused("db"), f"  - {{name: ops, url: '{hook.url}'}}\n")
    ronda = RondaProcess(config).start()
    try:
        [row] = wait_for(
            "a failed attempt",
            lambda: [r for r in ronda.api("/api/v1/notifications?status=pending") if r["attempts"] >= 1],
        )
        assert row["source"] == "incident:1:opened" and row["channel"] == "ops"
        assert "500" in row["last_error"]
        wait_for("the pending gauge", lambda: "ronda_outbox_pending 1.0" in ronda.get("/metrics").text)
    finally:
        code, output = ronda.stop()
    assert code == 0, output
    assert hook.messages == []
    hook.heal()
    ronda = RondaProcess(config).start()
    try:
        [sent] = wait_for("delivery after the restart", lambda: ronda.api("/api/v1/notifications?status=sent"))
        assert sent["source"] == "incident:1:opened" and sent["attempts"] >= 1 and sent["sent_at"]
        assert "ronda_outbox_pending 0.0" in ronda.get("/metrics").text
    finally:
        ronda.stop()
    assert [m["title"] for m in hook.messages] == ["[ronda] db is failing: tcp_refused"], "once, not again"


def test_a_notice_past_its_deadline_is_failed_and_listed_with_the_last_error(write, hooks):
    hook = hooks()
    hook.fail()
    ronda = RondaProcess(write(refused("db"), f"  - {{name: ops, url: '{hook.url}', deadline: 3s}}\n")).start()
    try:
        [row] = wait_for("a failed notice", lambda: ronda.api("/api/v1/notifications?status=failed"), timeout=30)
        assert ronda.api("/api/v1/notifications?status=pending") == []
        assert ronda.get("/api/v1/notifications?status=lost").status_code == 422
        assert ronda.get("/api/v1/notifications", token=None).status_code == 401
    finally:
        ronda.stop()
    assert (row["source"], row["channel"], row["status"]) == ("incident:1:opened", "ops", "failed")
    assert row["title"] == "[ronda] db is failing: tcp_refused"
    assert row["attempts"] >= 1 and "500" in row["last_error"]
    assert row["sent_at"] is None and row["deadline_at"] and row["created_at"]
    assert hook.refused >= 1 and hook.messages == []


def test_an_incidents_first_notice_leaves_as_soon_as_it_is_confirmed(write, hooks):
    """No wait for a storm that is not under way: the notice is sent within one round of
    checks (2 s here) of the verdict that confirmed the incident, though openings held for a
    storm would wait 10 s. The times compared are the ones ronda recorded (the API writes
    them to the second)."""
    hook = hooks()
    config = write(refused("db"), f"  - {{name: ops, url: '{hook.url}'}}\n")
    text = config.read_text().replace("notify_storm_wait: 200ms", "notify_storm_wait: 10s")
    config.write_text(text.replace("interval: 200ms", "interval: 2s"))
    ronda = RondaProcess(config).start()
    try:
        [row] = wait_for("the notice sent", lambda: ronda.api("/api/v1/notifications?status=sent"))
        [incident] = ronda.api("/api/v1/incidents")
    finally:
        ronda.stop()
    written, sent = datetime.fromisoformat(row["created_at"]), datetime.fromisoformat(row["sent_at"])
    opened = datetime.fromisoformat(incident["opened_at"])
    assert row["source"] == "incident:1:opened" and [m["title"] for m in hook.messages] == [
        "[ronda] db is failing: tcp_refused"
    ]
    assert written >= opened, "written when the incident was confirmed"
    assert sent - written <= timedelta(seconds=2), f"sent {sent - written} after it was written"


def test_twenty_monitors_failing_together_are_a_few_notices_and_a_digest_not_twenty(write, hooks):
    """The first openings leave at once (at most `notify_storm` of them); once more than that
    came within a minute, a storm is under way and the rest go together as a digest."""
    hook = hooks()
    switch = free_port()  # one parent: everything behind it refuses at once
    monitors = "".join(f"  - {{name: host{i:02d}, url: 'tcp://127.0.0.1:{switch}'}}\n" for i in range(20))
    config = write(monitors, f"  - {{name: ops, url: '{hook.url}'}}\n", extra="notify_storm: 10\n")
    config.write_text(config.read_text().replace("notify_storm_wait: 200ms", "notify_storm_wait: 2s"))
    ronda = RondaProcess(config).start()
    try:
        sent = wait_for(
            "twenty openings sent",
            lambda: len(rows := ronda.api("/api/v1/notifications?status=sent")) == 20 and rows,
            timeout=30,
        )
        assert ronda.api("/api/v1/notifications?status=pending") == []
    finally:
        ronda.stop()
    assert {row["source"] for row in sent} == {f"incident:{i}:opened" for i in range(1, 21)}
    digests = [m for m in hook.messages if " incidents opened: " in m["title"]]
    alone = [m for m in hook.messages if m not in digests]
    assert digests, "the storm's later openings went as a digest"
    assert len(alone) <= 10, "no more than notify_storm openings one by one"
    named = [m["title"].removeprefix("[ronda] ").split(" is failing")[0] for m in alone]
    named += [f"host{i:02d}" for i in range(20) for d in digests if f"host{i:02d} (tcp_refused)" in d["message"]]
    assert sorted(named) == [f"host{i:02d}" for i in range(20)], "each opening told exactly once"
