"""`ronda demo` as a newcomer sees it: every staged outage caught, named and resolved, each
told once, and a closing that says what ronda saw and where to look next."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

from rich.console import Console

from ronda.demo.narrator import Narrator, next_steps, summary
from ronda.rules.incidents import Event
from ronda.storage.database import Database
from ronda.storage.incidents import IncidentNotice
from ronda.storage.inventory import CertificateNotice
from tests.support import free_port

BREAKS_PER_ROUND = 9  # the demo's timeline: seven outages, the api's 403 and the backup's hang


def test_the_demo_catches_explains_and_resolves_every_outage(tmp_path):
    # A fast cycle so the test sees every outage and recovery of one round in seconds.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ronda",
            "demo",
            "--cycle",
            "12",
            "--interval",
            "0.3",
            "--duration",
            "13",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Traceback" not in out + result.stderr
    opened = dict(re.findall(r"INCIDENT #\d+ (\S+) (\S+) \(", out))
    assert opened == {
        "podcasts": "cert_expired",
        "shop": "subresource_failed",
        "api": "http_server_error",
        "chat": "tcp_refused",
        "status": "dns_nxdomain",
        "www": "cert_expired",
        "camera": "stream_missing",  # the RTSP camera lost its video track
        "backup": "heartbeat_missed",  # the nightly job hung
    }, out
    # The cause in plain words, then what the check saw.
    assert re.search(r"INCIDENT #\d+ podcasts cert_expired \(the TLS certificate has expired\): podcasts.demo", out)
    assert re.search(r"CHANGED\s+#\d+ api now http_client_error \(the server refused the request \(4xx\)\): ", out)
    # The demo's users report the api's failure from four US states: the surge joins its incident.
    assert re.search(r"REPORTS\s+#\d+ api: users report problems with api: \d+ reports in 4 s", out), out
    # Each outage resolves once, with how long it lasted.
    resolved = Counter(re.findall(r"RESOLVED #\d+ (\S+) works again after \d+ (?:s|min)", out))
    assert set(resolved) == set(opened) and set(resolved.values()) == {1}, out
    mail_warning = (
        r"WARNING\s+cert_expiring: mail.demo.test at 127.0.0.8: expires in 5.0 days.*"
        r"served at mail: mail.demo.test:8443"
    )
    assert re.search(mail_warning, out), out
    assert "Authorization: Bearer" in out and "/api/v1/incidents" in out
    # The banner opens on the dashboard, with a login that works.
    login = re.search(r"Dashboard: (http://\S+/)\s+\(log in as demo, password (\S+)\)", out)
    assert login, out
    store = Database(f"sqlite:///{tmp_path / 'ronda.db'}")
    try:
        assert store.accounts.authenticate("demo", login.group(2)) is not None
    finally:
        store.close()
    assert re.search(r"INCIDENT #\d+ shop subresource_failed .*: images.shop.demo.test:8443: cert_expired", out), out
    assert re.search(r"INCIDENT #\d+ www cert_expired .* \(1 of 2 addresses work\)", out), out
    rollback = r"ROTATED\s+cert_rotated: the certificate for podcasts.demo.test went back to an older certificate"
    assert re.search(rollback, out), out
    # One round tells each break once, and no timeline: those are on the dashboard.
    first_round = out.split("That was one round")[0]
    breaks = re.findall(r"^\s*\d+s world\s+(.*)$", first_round, re.M)
    assert len(breaks) == BREAKS_PER_ROUND and len(set(breaks)) == len(breaks), first_round
    assert not re.search(r"^\s+\d\d:\d\d:\d\d ", out, re.M), "no timeline is printed"
    dashboard = login.group(1)
    assert f"whole timeline is on the dashboard, {dashboard}, and on the public status page, {dashboard}status" in out
    # The closing adds up, and says what to look at next.
    caught = re.search(r"ronda caught (\d+) failures? in (\d+) incidents?.* and resolved (all of them|\d+)", out)
    assert caught, out
    failures, incidents = int(caught.group(1)), int(caught.group(2))
    still_open = re.search(r"still open when the demo stopped: (.*?)[;.]", out)
    open_now = len(still_open.group(1).split(", ")) if still_open else 0
    ended = failures if caught.group(3) == "all of them" else int(caught.group(3))
    assert incidents == len(opened) and failures == ended + open_now, out
    ronda = r"`(?:ronda|/\S+/ronda|/\S+ -m ronda)"  # as the shell finds it, or as it was started
    assert re.search(ronda + r" init --url https://example.com/` writes a starter config \(ronda.yaml\)", out)
    assert re.search(ronda + r" run --config ronda.yaml` watches them", out)
    assert f"the dashboard ({dashboard}), the status page ({dashboard}status)" in out
    assert re.search(ronda + rf" demo --data {re.escape(str(tmp_path))}` shows this history again", out)
    assert (tmp_path / "ronda.db").exists(), "the demo keeps its history where --data says"
    # The default canaries, with loopback as the gateway: both answer, ronda stays online.
    assert re.search(r"proven by its canaries: dns://ronda-canary.invalid\?server=127.0.0.1:\d+, icmp://127.0.0.1", out)
    assert re.search(r"own network: online \(dns://\S+ answers; icmp://127.0.0.1 answers\)", out), out


# -- the narration of the rounds after the first, from the notices ronda sends -----------------

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


class Narration:
    """A pinned clock and a narrator that prints to a string, as a 200-column terminal would."""

    def __init__(self) -> None:
        self.now = T0
        self.screen = io.StringIO()
        self.narrator = Narrator(lambda: self.now, Console(file=self.screen, width=200, highlight=False))

    def at(self, seconds: float) -> Narration:
        self.now = T0 + timedelta(seconds=seconds)
        return self

    def incident(self, event: Event, monitor: str, cause: str, summary: str = "", **extra: object) -> None:
        self.narrator.notice(IncidentNotice(event, 1, monitor, f"https://{monitor}.test/", cause, summary, T0, **extra))

    def resolved(self, monitor: str, cause: str) -> None:
        self.incident(Event.RESOLVED, monitor, cause, resolved_at=self.now, duration_s=(self.now - T0).total_seconds())

    def rotated(self, subject: str) -> None:
        detail = f"the certificate for {subject} went back to an older certificate"
        self.narrator.notice(CertificateNotice("cert_rotated", "ab12", subject, T0, detail, (f"podcasts: {subject}",)))

    @property
    def lines(self) -> list[str]:
        return self.screen.getvalue().splitlines()


def test_a_flapping_incident_is_explained_once_and_each_return_is_one_line():
    story = Narration()
    expired = "podcasts.test at 127.0.0.2: expired 2.0 days ago"
    for round_start in (0, 60, 120):
        story.at(round_start + 5).rotated("podcasts.test")
        story.at(round_start + 7).incident(
            Event.REOPENED if round_start else Event.OPENED, "podcasts", "cert_expired", expired
        )
        story.at(round_start + 39).resolved("podcasts", "cert_expired")
    story.at(185).incident(Event.REOPENED, "podcasts", "cert_expired", expired)

    assert [line.split("s ", 1)[1].strip() for line in story.lines] == [
        "ROTATED  cert_rotated: the certificate for podcasts.test went back to an older certificate "
        "(served at podcasts: podcasts.test)",
        f"INCIDENT #1 podcasts cert_expired (the TLS certificate has expired): {expired}",
        "RESOLVED #1 podcasts works again after 39 s (cert_expired)",
        "AGAIN    #1 podcasts cert_expired: failing again soon after it recovered, so the same incident reopens "
        "(flapping)",
        # Each break's own duration, not the time since the incident first opened.
        "RESOLVED #1 podcasts works again after 32 s (cert_expired)",
        "AGAIN    #1 podcasts cert_expired (3rd time)",
        "RESOLVED #1 podcasts works again after 32 s (cert_expired)",
        "AGAIN    #1 podcasts cert_expired (4th time)",
    ]
    assert sum("flapping" in line for line in story.lines) == 1, "flapping is said once"
    assert summary(story.narrator.tally()) == (
        "ronda caught 4 failures in 1 incident (one that comes back soon after it recovered reopens its incident) "
        "and resolved 3; still open when the demo stopped: #1 podcasts; "
        "it also raised 1 certificate notice (expiry warnings, rotations)."
    )


def test_a_cause_change_and_the_users_reports_are_explained_once_then_named():
    story = Narration()
    for round_start in (0, 60):
        event = Event.REOPENED if round_start else Event.OPENED
        story.at(round_start + 18).incident(event, "api", "http_server_error", "api answered 503")
        story.at(round_start + 26).incident(
            Event.SIGNAL_JOINED, "api", "http_server_error", signal="reports", message="users report problems"
        )
        story.at(round_start + 28).incident(Event.CAUSE_CHANGED, "api", "http_client_error", "api answered 403")
        story.at(round_start + 44).resolved("api", "http_client_error")

    told = [line.split("s ", 1)[1].strip() for line in story.lines]
    assert told[:4] == [
        "INCIDENT #1 api http_server_error (the server answered with an error (5xx)): api answered 503",
        "REPORTS  #1 api: users report problems",
        "CHANGED  #1 api now http_client_error (the server refused the request (4xx)): api answered 403",
        "RESOLVED #1 api works again after 44 s (http_client_error)",
    ]
    assert told[5:] == [
        "REPORTS  #1 api: users report problems again",
        "CHANGED  #1 api now http_client_error",
        "RESOLVED #1 api works again after 26 s (http_client_error)",
    ]
    assert summary(story.narrator.tally()).startswith("ronda caught 2 failures in 1 incident")
    assert "and resolved all of them." in summary(story.narrator.tally())


def test_the_closing_says_where_to_look_next():
    steps = "\n".join(next_steps("http://127.0.0.1:18080", None))
    assert "`ronda init --url https://example.com/` writes a starter config (ronda.yaml)" in steps
    assert "`ronda check https://example.com/`" in steps
    assert "the dashboard (http://127.0.0.1:18080/), the status page (http://127.0.0.1:18080/status)" in steps
    assert "`ronda demo --data DIR` keeps the history for another look" in steps
    assert summary(Narration().narrator.tally()) == "ronda saw no failure: the demo stopped before its first break."
