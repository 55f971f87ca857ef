"""Push monitors (heartbeats): jobs call ronda, ronda notices when they stop.

The timing is a pure function, tested as a table (periods, cron in a time zone across DST
changes, grace, a run that started and never finished); the rest through a real `ronda run`
process, pinged over HTTP the way a cron job's curl does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ronda.durations import format_duration
from ronda.rules.heartbeats import (
    Due,
    Heartbeat,
    HeartbeatSchedule,
    after_missed,
    due,
    missed_summary,
    overdue,
    run_time,
)
from ronda.service.push import heartbeat_from
from ronda.storage.push_records import LastHeard
from ronda.verdict import iso, parse_iso
from tests.receivers import WebhookReceiver
from tests.support import RondaProcess, config_error, config_text, free_port, wait_for


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DAILY = HeartbeatSchedule(grace=3600, period=86400)
ROME_3AM = HeartbeatSchedule(grace=3600, cron="0 3 * * *", timezone="Europe/Rome")
ROME_230AM = HeartbeatSchedule(grace=1800, cron="30 2 * * *", timezone="Europe/Rome")
WATCHING = utc("2026-01-01 00:00")


# -- when the next call is due ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "heartbeat", "expected", "by"),
    [
        # A period counts from the latest call.
        (DAILY, Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00")), "2026-12-01 03:00", "2026-12-01 04:00"),
        # Never called: from when ronda began watching.
        (DAILY, Heartbeat(WATCHING), "2026-01-02 00:00", "2026-01-02 01:00"),
        # Restarted since the last call: still from the call.
        (DAILY, Heartbeat(utc("2026-12-01 00:00"), last_call=utc("2026-11-30 03:00")), "2026-12-01 03:00",
         "2026-12-01 04:00"),
        # Cron in Rome in winter (UTC+1): 03:00 there is 02:00 UTC.
        (ROME_3AM, Heartbeat(WATCHING, last_call=utc("2026-01-10 02:01")), "2026-01-11 02:00", "2026-01-11 03:00"),
        # ... in summer (UTC+2): 01:00 UTC.
        (ROME_3AM, Heartbeat(WATCHING, last_call=utc("2026-07-10 01:01")), "2026-07-11 01:00", "2026-07-11 02:00"),
        # Spring forward (29 March 2026): the night is an hour short, so the next 03:00 comes
        # 23 hours after the last, not 24.
        (ROME_3AM, Heartbeat(WATCHING, last_call=utc("2026-03-28 02:05")), "2026-03-29 01:00", "2026-03-29 02:00"),
        # Fall back (25 October 2026): 25 hours.
        (ROME_3AM, Heartbeat(WATCHING, last_call=utc("2026-10-24 01:05")), "2026-10-25 02:00", "2026-10-25 03:00"),
        # 02:30 does not exist in Rome on 29 March: cron runs it when the clock resumes, 03:00 CEST.
        (ROME_230AM, Heartbeat(WATCHING, last_call=utc("2026-03-28 01:31")), "2026-03-29 01:00", "2026-03-29 01:30"),
        # A call early in the morning: the job is still expected at today's 03:00.
        (ROME_3AM, Heartbeat(WATCHING, last_call=utc("2026-01-10 00:30")), "2026-01-10 02:00", "2026-01-10 03:00"),
        # After a missed heartbeat, the clock goes on from when the job was expected.
        (DAILY, Heartbeat(WATCHING, utc("2026-11-30 03:00"), missed=utc("2026-12-01 03:00")), "2026-12-02 03:00",
         "2026-12-02 04:00"),
    ],
    ids=["period", "never-called", "restarted", "cron-winter", "cron-summer", "spring-forward", "fall-back",
         "cron-in-the-gap", "cron-same-day", "after-a-miss"],
)  # fmt: skip
def test_the_next_call_is_due_at_the_next_run_plus_grace(schedule, heartbeat, expected, by):
    assert due(schedule, heartbeat) == Due(utc(expected), utc(by))


def test_a_job_that_started_is_due_within_grace_of_its_start():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"), started=utc("2026-12-01 02:58"))
    started = utc("2026-12-01 02:58")
    assert due(DAILY, heartbeat) == Due(started, utc("2026-12-01 03:58"), running_since=started)


def test_a_run_that_began_late_does_not_move_the_deadline():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"), started=utc("2026-12-01 03:30"))
    assert due(DAILY, heartbeat).by == utc("2026-12-01 04:00")


def test_a_start_older_than_the_latest_call_is_a_finished_run():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:05"), started=utc("2026-11-30 03:00"))
    assert due(DAILY, heartbeat) == Due(utc("2026-12-01 03:05"), utc("2026-12-01 04:05"))


# -- late or not -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "late"),
    [("2026-12-01 03:59:59", False), ("2026-12-01 04:00", True), ("2026-12-01 12:00", True)],
)
def test_late_once_grace_has_passed(now, late):
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"))
    assert (overdue(DAILY, heartbeat, utc(now)) is not None) is late


def test_of_many_runs_missed_while_ronda_was_stopped_only_the_latest_is_reported():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-01 03:00"))
    missed = overdue(DAILY, heartbeat, utc("2026-12-01 12:00"))
    assert missed == Due(utc("2026-12-01 03:00"), utc("2026-12-01 04:00"))
    # ... and the next report comes one run later, not at once.
    assert overdue(DAILY, after_missed(heartbeat, missed), utc("2026-12-01 12:00")) is None
    assert due(DAILY, after_missed(heartbeat, missed)).by == utc("2026-12-02 04:00")


def test_cron_runs_missed_in_a_row_report_the_latest_in_local_time():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-03-27 02:00"))
    missed = overdue(ROME_3AM, heartbeat, utc("2026-03-30 09:00"))
    assert missed == Due(utc("2026-03-30 01:00"), utc("2026-03-30 02:00"))


def test_a_run_that_hangs_is_reported_once():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"), started=utc("2026-12-01 03:00"))
    missed = overdue(DAILY, heartbeat, utc("2026-12-01 04:00"))
    assert missed is not None and missed.running_since == utc("2026-12-01 03:00")
    later = after_missed(heartbeat, missed)
    assert overdue(DAILY, later, utc("2026-12-01 04:01")) is None
    assert due(DAILY, later).by == utc("2026-12-02 04:00")


def test_a_hanging_run_that_started_late_is_not_reported_twice():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"), started=utc("2026-12-01 03:00:01"))
    missed = overdue(DAILY, heartbeat, utc("2026-12-01 04:00"))
    assert missed is not None
    assert overdue(DAILY, after_missed(heartbeat, missed), utc("2026-12-01 04:00:02")) is None


# -- words and run times -------------------------------------------------------------------------


def test_the_missed_summaries_say_since_when_and_by_when():
    last = Heartbeat(WATCHING, last_call=utc("2026-11-30 03:00"))
    assert (
        missed_summary("nightly-backup", last, Due(utc("2026-12-01 03:00"), utc("2026-12-01 04:00")))
        == "no heartbeat from nightly-backup since 2026-11-30 03:00 UTC; expected by 2026-12-01 04:00 UTC"
    )
    started = utc("2026-12-01 03:00")
    assert (
        missed_summary("nightly-backup", last, Due(started, utc("2026-12-01 04:00"), running_since=started))
        == "nightly-backup started 2026-12-01 03:00 UTC, no success yet; expected by 04:00 UTC"
    )
    assert (
        missed_summary("sync", Heartbeat(WATCHING), Due(utc("2026-12-01 03:00:05"), utc("2026-12-01 03:00:06")))
        == "no heartbeat from sync yet; expected by 2026-12-01 03:00:06 UTC"
    )


@pytest.mark.parametrize(
    ("heartbeat", "seconds"),
    [
        (Heartbeat(WATCHING, utc("2026-11-30 03:00"), started=utc("2026-12-01 03:00")), 252.0),
        (Heartbeat(WATCHING, utc("2026-11-30 03:00")), None),  # it never said it started
        (Heartbeat(WATCHING, utc("2026-12-01 03:02"), started=utc("2026-12-01 03:00")), None),  # that run ended
        # Reported late, then finished: still that run.
        (Heartbeat(WATCHING, utc("2026-11-30 03:00"), utc("2026-12-01 03:00"), utc("2026-12-01 03:00")), 252.0),
    ],
)
def test_a_run_is_timed_from_its_start(heartbeat, seconds):
    assert run_time(heartbeat, utc("2026-12-01 03:04:12")) == seconds


def test_a_schedule_has_a_period_or_a_cron():
    with pytest.raises(ValueError, match="one of the two"):
        HeartbeatSchedule(grace=60)
    assert ROME_3AM.describe() == "cron 0 3 * * * (Europe/Rome), grace 1 h"
    assert HeartbeatSchedule(grace=1, period=2).describe() == "every 2 s, grace 1 s"


def test_nothing_is_late_a_moment_after_a_call():
    heartbeat = Heartbeat(WATCHING, last_call=utc("2026-12-01 03:00"))
    assert overdue(ROME_3AM, heartbeat, utc("2026-12-01 03:00") + timedelta(seconds=1)) is None


# -- what a restart reads back ----------------------------------------------------------------


def test_a_restart_resumes_from_the_latest_stored_verdict():
    now = utc("2026-12-02 10:00")
    called = {"checked_at": "2026-12-01T03:04:12Z", "push": {"signal": "success"}}
    assert heartbeat_from(LastHeard(called, None), now) == Heartbeat(now, utc("2026-12-01 03:04:12"))
    missed = {
        "checked_at": "2026-12-01T04:00:01Z",
        "push": {"signal": "missed", "expected_at": "2026-12-01T03:00:00Z", "late_at": "2026-12-01T04:00:00Z",
                 "started_at": None, "last_call_at": "2026-11-30T03:00:00Z"},
    }  # fmt: skip
    resumed = heartbeat_from(LastHeard(missed, None), now)
    assert resumed == Heartbeat(now, utc("2026-11-30 03:00"), missed=utc("2026-12-01 03:00"))
    assert due(DAILY, resumed).by == utc("2026-12-02 04:00")
    # Never heard of (or a probed monitor until now): the clock starts now.
    assert heartbeat_from(LastHeard(None, None), now) == Heartbeat(now)
    assert heartbeat_from(LastHeard({"checked_at": "2026-12-01T03:00:00Z"}, None), now) == Heartbeat(now)


def test_a_run_that_started_and_ended_within_a_second_is_not_unfinished_after_a_restart():
    called = {"checked_at": "2026-12-01T03:00:00Z", "push": {"signal": "success", "run_s": 0.4}}
    resumed = heartbeat_from(LastHeard(called, utc("2026-12-01 03:00:00.500")), utc("2026-12-02 10:00"))
    assert resumed.running_since is None


# -- the config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("monitor", "message"),
    [
        ("{name: backup, kind: push}", "monitors[0]: push monitor 'backup' needs period (such as 1d) or cron"),
        ("{name: backup, kind: push, period: 1d, url: 'https://a.test/'}", "url: a push monitor has no url"),
        ("{name: backup, kind: push, period: 1d, interval: 5s}", "interval: a push monitor has no interval"),
        ("{name: backup, url: 'https://a.test/', grace: 1h}", "monitors[0].grace: only push monitors (kind: push)"),
        ("{name: backup, kind: push, period: 1d, timezone: Europe/Rome}", "timezone goes with cron"),
        ("{name: backup, kind: push, cron: '0 3 * *'}", "monitors[0].cron: '0 3 * *' is not a cron expression"),
        ("{name: backup, kind: push, cron: '0 3 * * *', timezone: Rome}", "monitors[0].timezone: unknown time zone"),
        ("{name: backup, kind: push, period: 1d, token: short}", "monitors[0].token: expected 16 to 64 letters"),
        ("{name: backup}", "monitors[0].url: required but missing"),
    ],
    ids=["no schedule", "a url", "an interval", "grace on a checked monitor", "timezone with a period", "bad cron",
         "bad zone", "short token", "no url and no kind"],
)  # fmt: skip
def test_a_wrong_push_monitor_is_refused_naming_the_place(tmp_path, monitor, message):
    path = tmp_path / "ronda.yaml"
    path.write_text(f"monitors:\n  - {monitor}\n")
    assert message in config_error(str(path))


def test_two_push_monitors_cannot_share_a_token(tmp_path):
    path = tmp_path / "ronda.yaml"
    token = "same-token-0123456789"
    path.write_text(
        "monitors:\n"
        f"  - {{name: a, kind: push, period: 1d, token: {token}}}\n"
        f"  - {{name: b, kind: push, period: 1d, token: {token}}}\n"
    )
    assert ":3: monitors[1].token: monitor 'a' has this token already" in config_error(str(path))


# -- through `ronda run` ------------------------------------------------------------------------


def push_monitor(name: str, period: str, grace: str, extra: str = "") -> str:
    return f"  - name: {name}\n    kind: push\n    period: {period}\n    grace: {grace}\n{extra}"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def start(tmp_path: Path, ca_file: str, monitors: str, notify: str = "[]") -> RondaProcess:
    path = tmp_path / "ronda.yaml"
    path.write_text(config_text(free_port(), ca_file, monitors, notify=notify))
    return RondaProcess(path).start()


def stopped_cleanly(ronda: RondaProcess) -> None:
    code, output = ronda.stop()
    assert code == 0, output
    assert "Traceback" not in output, output


def push_url(ronda: RondaProcess, name: str) -> str:
    [monitor] = [m for m in ronda.api("/api/v1/monitors") if m["name"] == name]
    return str(monitor["push_url"])


def latest(ronda: RondaProcess, name: str) -> dict[str, Any]:
    results = ronda.api(f"/api/v1/monitors/{name}/results?limit=1")
    return results[0] if results else {}


def incidents(ronda: RondaProcess, name: str) -> list[dict[str, Any]]:
    return [i for i in ronda.api("/api/v1/incidents") if i["monitor"] == name]


def test_calls_keep_a_push_monitor_up_silence_opens_an_incident_and_a_call_resolves_it(tmp_path, ca_file, receiver):
    notify = f"['{receiver.url}']"
    ronda = start(tmp_path, ca_file, push_monitor("backup", "2s", "1s"), notify=notify)
    try:
        url = push_url(ronda, "backup")
        assert url.startswith(f"http://127.0.0.1:{ronda.port}/push/")
        answer = httpx.get(url)
        assert (answer.status_code, answer.text) == (200, "OK\n")
        verdict = latest(ronda, "backup")
        assert (verdict["status"], verdict["summary"], verdict["target"]) == (
            "up",
            "heartbeat from backup",
            "push: every 2 s, grace 1 s",
        )
        # No call for the period and its grace: missed, and one miss opens the incident.
        [incident] = wait_for("the missed heartbeat", lambda: incidents(ronda, "backup"))
        assert (incident["cause"], incident["status"]) == ("heartbeat_missed", "open")
        missed = latest(ronda, "backup")
        assert missed["cause"] == "heartbeat_missed"
        assert missed["summary"].startswith("no heartbeat from backup since ")
        assert "; expected by " in missed["summary"]
        opened = wait_for("the opening notice", lambda: list(receiver.messages))
        assert "backup" in opened[0]["title"] and "heartbeat_missed" in opened[0]["title"]
        # The job calls again: resolved, with how long it lasted.
        assert httpx.post(url, content=b"done").status_code == 200
        [resolved] = wait_for(
            "the resolution", lambda: [i for i in incidents(ronda, "backup") if i["status"] == "resolved"]
        )
        assert resolved["duration_s"] is not None and resolved["duration_s"] > 0
        told = wait_for("the resolved notice", lambda: receiver.messages[1:])
        assert "resolved" in told[0]["title"].lower() and "backup works again after" in told[0]["message"]
    finally:
        stopped_cleanly(ronda)


def test_a_job_that_reports_failure_is_down_with_what_it_said(tmp_path, ca_file):
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1h", "1h"))
    try:
        url = push_url(ronda, "backup")
        output = b"rsync: write failed: No space left on device\n" + b"x" * 50_000
        assert httpx.post(f"{url}/fail", content=output).status_code == 200
        verdict = latest(ronda, "backup")
        assert (verdict["status"], verdict["cause"]) == ("down", "job_failed")
        assert verdict["summary"] == "backup reported a failure: rsync: write failed: No space left on device"
        [finding] = verdict["findings"]
        assert finding["detail"].startswith("rsync: write failed") and len(finding["detail"]) == 10_000
        [incident] = incidents(ronda, "backup")  # at once: the job said so itself
        assert (incident["cause"], incident["status"]) == ("job_failed", "open")
        # The exit status form: 0 is a success, and it resolves the incident.
        assert httpx.get(f"{url}/0").status_code == 200
        assert latest(ronda, "backup")["status"] == "up"
        assert httpx.get(f"{url}/3").status_code == 200
        failed = latest(ronda, "backup")
        assert (failed["cause"], failed["summary"]) == ("job_failed", "backup reported a failure: exit status 3")
    finally:
        stopped_cleanly(ronda)


def test_a_started_job_is_timed_and_one_that_never_finishes_is_missed(tmp_path, ca_file):
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1h", "5s"))
    try:
        url = push_url(ronda, "backup")
        assert httpx.get(f"{url}/start").status_code == 200
        assert latest(ronda, "backup") == {}, "a start is no verdict"
        time.sleep(1.2)
        assert httpx.get(url).status_code == 200
        verdict = latest(ronda, "backup")
        ran = verdict["push"]["run_s"]
        assert ran >= 1.2 and verdict["latency_ms"] == pytest.approx(ran * 1000, abs=1)
        assert verdict["summary"] == f"backup ran {format_duration(ran)}"  # "ran 4 min 12 s" for a longer one
        assert f"ran {format_duration(ran)}" in ronda.get("/monitors/backup").text
        # Started again, and no word within grace: a missed heartbeat naming the start.
        assert httpx.post(f"{url}/start").status_code == 200
        missed = wait_for("the hanging run", lambda: (v := latest(ronda, "backup"))["status"] == "down" and v)
        assert missed["cause"] == "heartbeat_missed"
        assert missed["summary"].startswith("backup started ") and ", no success yet; expected by " in missed["summary"]
    finally:
        stopped_cleanly(ronda)


def test_a_wrong_token_is_not_found_whatever_its_shape(tmp_path, ca_file):
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1h", "1h"))
    try:
        real = push_url(ronda, "backup")
        base = real.rsplit("/", 1)[0]
        wrong = [f"{base}/{'x' * 32}", f"{base}/{real.rsplit('/', 1)[1][:-1]}", f"{base}/a", f"{base}/{'x' * 32}/fail"]
        answers = [httpx.get(u) for u in wrong] + [httpx.post(f"{base}/nope/start", content="x")]
        assert {(answer.status_code, answer.text) for answer in answers} == {(404, "not found\n")}
        assert latest(ronda, "backup") == {}
    finally:
        stopped_cleanly(ronda)


def test_the_push_url_is_shown_to_people_signed_in_and_never_on_the_status_page(tmp_path, ca_file):
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1d", "1h"))
    try:
        url = push_url(ronda, "backup")
        token = url.rsplit("/", 1)[1]
        page = ronda.get("/monitors/backup").text
        assert f"curl -fsS -m 10 --retry 5 -o /dev/null {url}" in page
        assert ronda.get("/api/v1/monitors", token=None).status_code == 401
        assert ronda.get("/monitors/backup", token=None).status_code in (303, 307)
        for public in ("/status", "/status/feed.atom", "/status/summary.json", "/badge/backup/status.svg"):
            answer = ronda.get(public, token=None)
            assert answer.status_code == 200, public
            assert token not in answer.text, public
        assert "backup" in ronda.get("/status", token=None).text, "the monitor is on the page, its URL is not"
    finally:
        stopped_cleanly(ronda)


def test_an_api_monitor_that_becomes_a_push_monitor_is_checked_no_more_and_takes_calls(tmp_path, ca_file, web):
    site = web()
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1d", "1h"))
    try:
        assert ronda.send("POST", "/api/v1/monitors", {"name": "job", "url": site.url()}).status_code == 201
        wait_for("checked at its URL", lambda: latest(ronda, "job"))
        put = ronda.send("PUT", "/api/v1/monitors/job", {"name": "job", "kind": "push", "period": "1d", "grace": "1h"})
        assert put.status_code == 200, put.text
        assert httpx.post(f"{put.json()['push_url']}/fail", content="disk full").status_code == 200
        wait_for("its call counted", lambda: latest(ronda, "job")["cause"] == "job_failed")
        checked = site.requests
        time.sleep(1)  # five intervals of the checks it had
        assert site.requests == checked, "a push monitor is not checked at its old URL"
    finally:
        stopped_cleanly(ronda)


def test_server_public_url_makes_the_push_url(tmp_path, ca_file):
    path = tmp_path / "ronda.yaml"
    text = config_text(free_port(), ca_file, push_monitor("backup", "1d", "1h"))
    path.write_text(
        text.replace("  token: ${RONDA_TOKEN}\n", "  token: ${RONDA_TOKEN}\n  public_url: https://ronda.example/\n")
    )
    ronda = RondaProcess(path).start()
    try:
        assert push_url(ronda, "backup").startswith("https://ronda.example/push/")
    finally:
        stopped_cleanly(ronda)


def test_a_push_monitor_added_through_the_api_takes_calls(tmp_path, ca_file):
    ronda = start(tmp_path, ca_file, push_monitor("backup", "1d", "1h"))
    try:
        body = {"name": "sync", "kind": "push", "cron": "0 3 * * *", "timezone": "Europe/Rome", "grace": "1h"}
        posted = ronda.send("POST", "/api/v1/monitors", body)
        assert posted.status_code == 201, posted.text
        answer = posted.json()
        assert answer["target"] == "push: cron 0 3 * * * (Europe/Rome), grace 1 h"
        assert answer["push_url"] != push_url(ronda, "backup")
        assert httpx.post(f"{answer['push_url']}/fail", content="no route to backup host").status_code == 200
        assert latest(ronda, "sync")["cause"] == "job_failed"
        # Its own secret, written in the definition, replaces the one ronda made.
        written = "written-token-0123456789"
        put = ronda.send("PUT", "/api/v1/monitors/sync", body | {"token": written})
        assert put.status_code == 200, put.text
        assert put.json()["push_url"].endswith(f"/push/{written}")
        assert httpx.get(answer["push_url"]).status_code == 404
        assert httpx.get(put.json()["push_url"]).status_code == 200
        assert latest(ronda, "sync")["status"] == "up"
        taken = ronda.send("POST", "/api/v1/monitors", body | {"name": "copy", "token": written})
        assert taken.status_code == 422
        assert taken.json()["detail"] == [
            {"type": "value_error", "loc": ["body", "token"], "msg": "another push monitor has this token"}
        ]
        # Deleted: its URL no longer counts.
        assert ronda.send("DELETE", "/api/v1/monitors/sync").status_code == 204
        assert httpx.get(put.json()["push_url"]).status_code == 404
    finally:
        stopped_cleanly(ronda)


def test_the_token_and_the_state_survive_a_restart(tmp_path, ca_file):
    monitors = push_monitor("backup", "1h", "1h") + push_monitor("sync", "10s", "1s")
    ronda = start(tmp_path, ca_file, monitors)
    try:
        url, sync = push_url(ronda, "backup"), push_url(ronda, "sync")
        assert httpx.post(f"{url}/fail", content="boom").status_code == 200
        assert httpx.get(sync).status_code == 200
        called = parse_iso(latest(ronda, "sync")["checked_at"])
    finally:
        stopped_cleanly(ronda)
    ronda = RondaProcess(tmp_path / "ronda.yaml").start()
    try:
        assert (push_url(ronda, "backup"), push_url(ronda, "sync")) == (url, sync)
        monitor = {m["name"]: m for m in ronda.api("/api/v1/monitors")}["backup"]
        assert (monitor["status"], monitor["cause"]) == ("down", "job_failed")
        assert httpx.get(url).status_code == 200
        [incident] = incidents(ronda, "backup")
        assert incident["status"] == "resolved"
        # The clock did not restart with ronda: sync was due 10 s + 1 s after its call (the
        # stored time is to the second, as `called` is). On a slow machine a later miss may
        # already follow the first: the first is the one that counts.
        wait_for("sync missed", lambda: latest(ronda, "sync")["status"] == "down")
        results = ronda.api("/api/v1/monitors/sync/results?limit=50")
        first_miss = next(v for v in reversed(results) if v["status"] == "down")
        assert first_miss["push"]["late_at"] == iso(called + timedelta(seconds=11))
    finally:
        stopped_cleanly(ronda)
