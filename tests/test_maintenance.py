"""Maintenance windows: which window covers a monitor when (DST days included), what is
planned ahead, and every config rejection by its exact message."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ronda.config.load import load_config
from ronda.config.schema import MaintenanceWindow
from ronda.rules.maintenance import active_window, next_windows, occurrence
from tests.support import config_error


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DB_UPGRADE = {"name": "db upgrade", "start": "2026-12-01T02:00:00+01:00", "end": "2026-12-01T04:00:00+01:00"}
NIGHTLY = {"name": "nightly backup", "cron": "0 2 * * *", "duration": "30m", "timezone": "Europe/Rome"}
# Europe/Rome in 2026: clocks skip 02:00-03:00 on 29 March (01:00 UTC) and repeat 02:00-03:00
# on 25 October (the first time round ends at 01:00 UTC).
AT_0230 = {"name": "half past two", "cron": "30 2 * * *", "duration": "30m", "timezone": "Europe/Rome"}


@pytest.mark.parametrize(
    ("window", "at", "expected"),
    [
        (DB_UPGRADE, "2026-12-01T02:00:00", ("2026-12-01T01:00:00", "2026-12-01T03:00:00")),
        (DB_UPGRADE, "2026-12-01T01:00:00", ("2026-12-01T01:00:00", "2026-12-01T03:00:00")),
        (DB_UPGRADE, "2026-12-01T02:59:59.999999", ("2026-12-01T01:00:00", "2026-12-01T03:00:00")),
        (DB_UPGRADE, "2026-12-01T03:00:00", None),
        (DB_UPGRADE, "2026-12-01T00:59:59", None),
        (
            {**DB_UPGRADE, "start": "2026-12-01T02:00:00", "end": "2026-12-01T04:00:00", "timezone": "Europe/Rome"},
            "2026-12-01T01:00:00",
            ("2026-12-01T01:00:00", "2026-12-01T03:00:00"),
        ),
        ({**DB_UPGRADE, "start": "2026-12-01T02:00:00", "end": "2026-12-01T04:00:00"}, "2026-12-01T01:00:00", None),
        (NIGHTLY, "2026-06-10T00:00:00", ("2026-06-10T00:00:00", "2026-06-10T00:30:00")),
        (NIGHTLY, "2026-06-10T00:29:59", ("2026-06-10T00:00:00", "2026-06-10T00:30:00")),
        (NIGHTLY, "2026-06-10T00:30:00", None),
        (NIGHTLY, "2026-06-09T23:59:59", None),
        (NIGHTLY, "2026-06-10T12:00:00", None),
        (NIGHTLY, "2026-01-15T01:15:00", ("2026-01-15T01:00:00", "2026-01-15T01:30:00")),
        (NIGHTLY, "2026-01-15T00:15:00", None),
        (
            {"name": "late", "cron": "0 23 * * *", "duration": "2h"},
            "2026-06-11T00:30:00",
            ("2026-06-10T23:00:00", "2026-06-11T01:00:00"),
        ),
        ({"name": "late", "cron": "0 23 * * *", "duration": "2h"}, "2026-06-11T01:00:00", None),
        ({"name": "late", "cron": "0 23 * * *", "duration": "2h"}, "2026-06-10T22:59:59", None),
        (AT_0230, "2026-03-28T01:45:00", ("2026-03-28T01:30:00", "2026-03-28T02:00:00")),
        (AT_0230, "2026-03-29T01:00:00", ("2026-03-29T01:00:00", "2026-03-29T01:30:00")),
        (AT_0230, "2026-03-29T00:59:59", None),
        (AT_0230, "2026-03-29T01:30:00", None),
        (AT_0230, "2026-03-30T00:45:00", ("2026-03-30T00:30:00", "2026-03-30T01:00:00")),
        (AT_0230, "2026-10-25T00:45:00", ("2026-10-25T00:30:00", "2026-10-25T01:00:00")),
        (AT_0230, "2026-10-25T01:45:00", None),
        ({**AT_0230, "duration": "2h"}, "2026-10-25T01:10:00", ("2026-10-25T00:30:00", "2026-10-25T02:30:00")),
        (AT_0230, "2026-10-26T01:45:00", ("2026-10-26T01:30:00", "2026-10-26T02:00:00")),
        (
            {"name": "hourly", "cron": "0 * * * *", "duration": "10m", "timezone": "Europe/Rome"},
            "2026-10-25T01:05:00",
            ("2026-10-25T01:00:00", "2026-10-25T01:10:00"),
        ),
        (
            {"name": "every 10 minutes", "cron": "*/10 * * * *", "duration": "25m"},
            "2026-06-10T12:34:00",
            ("2026-06-10T12:30:00", "2026-06-10T12:55:00"),
        ),
    ],
    ids=[
        "a one-off window covers a moment inside it",
        "a one-off window covers its first instant",
        "a one-off window covers its last microsecond",
        "a one-off window is over at its end",
        "a one-off window does not cover the second before it",
        "naive times are read in the window's zone",
        "naive times without a zone are UTC",
        "a nightly window at 02:00 Rome starts at midnight UTC in summer",
        "a nightly window covers its last second",
        "a nightly window is over after its duration",
        "a nightly window does not cover the second before it",
        "a nightly window does not cover midday",
        "a nightly window at 02:00 Rome starts at 01:00 UTC in winter",
        "a nightly window at 02:00 Rome does not cover midnight UTC in winter",
        "a window at 23:00 for two hours covers half past midnight the next day",
        "a window across midnight is over at its end",
        "a window across midnight does not cover the minute before it",
        "02:30 Rome the day before clocks go forward is 01:30 UTC",
        "02:30 on the day clocks skip it happens when they resume at 03:00",
        "02:30 on the day clocks skip it does not start before they resume",
        "02:30 on the day clocks skip it still lasts only its duration",
        "02:30 Rome the day after clocks go forward is 00:30 UTC",
        "02:30 on the day clocks go back happens the first time round",
        "02:30 on the day clocks go back does not happen again in the repeated hour",
        "the repeated hour does not hide a long window begun the first time round",
        "02:30 Rome the day after clocks go back is 01:30 UTC",
        "an hourly window happens in both passes of the repeated hour",
        "overlapping windows cover until the latest one ends",
    ],
)
def test_the_time_of_a_window_that_covers_an_instant(window, at, expected):
    found = occurrence(MaintenanceWindow.model_validate(window), utc(at))
    assert found == (None if expected is None else (utc(expected[0]), utc(expected[1])))


DB_ONLY = MaintenanceWindow(name="db only", cron="0 2 * * *", duration=1800, monitors=["db"])
STORAGE = MaintenanceWindow(name="storage", cron="0 2 * * *", duration=1800, tags=["storage"])
API_OR_STORAGE = MaintenanceWindow(
    name="api or storage", cron="0 2 * * *", duration=1800, monitors=["api"], tags=["storage"]
)
EVERYTHING = MaintenanceWindow(name="everything", cron="0 2 * * *", duration=1800)
INSIDE = utc("2026-06-10T02:10:00")


@pytest.mark.parametrize(
    ("windows", "name", "tags", "at", "expected"),
    [
        ([DB_ONLY], "db", [], INSIDE, DB_ONLY),
        ([DB_ONLY], "api", ["db"], INSIDE, None),
        ([STORAGE], "files", ["web", "storage"], INSIDE, STORAGE),
        ([STORAGE], "storage", ["web"], INSIDE, None),
        ([API_OR_STORAGE], "api", [], INSIDE, API_OR_STORAGE),
        ([API_OR_STORAGE], "db", ["storage"], INSIDE, API_OR_STORAGE),
        ([API_OR_STORAGE], "web", ["frontend"], INSIDE, None),
        ([EVERYTHING], "anything", [], INSIDE, EVERYTHING),
        ([DB_ONLY, EVERYTHING], "db", [], INSIDE, DB_ONLY),
        ([DB_ONLY, EVERYTHING], "api", [], INSIDE, EVERYTHING),
        ([DB_ONLY, EVERYTHING], "db", [], utc("2026-06-10T03:00:00"), None),
        ([], "db", [], INSIDE, None),
    ],
    ids=[
        "a window naming a monitor covers it",
        "a window naming a monitor covers no other, whatever its tags",
        "a window with a tag covers a monitor with that tag among others",
        "a tag is not a monitor name",
        "a window with names and tags covers a named monitor",
        "a window with names and tags covers a tagged monitor",
        "a window with names and tags covers no other",
        "a window naming neither covers every monitor",
        "the first covering window in the config's order is the answer",
        "a window that does not cover the monitor is passed over",
        "outside every window there is none",
        "no windows, no maintenance",
    ],
)
def test_the_window_that_covers_a_monitor(windows, name, tags, at, expected):
    assert active_window(windows, name, tags, at) is expected


def test_a_naive_instant_is_taken_as_utc():
    assert active_window([DB_ONLY], "db", [], INSIDE.replace(tzinfo=None)) is DB_ONLY


def test_answers_do_not_depend_on_the_order_of_questions():
    windows = [
        MaintenanceWindow.model_validate({**AT_0230, "duration": "2h"}),
        MaintenanceWindow.model_validate({"name": "often", "cron": "*/7 1-3 * * *", "duration": "3m"}),
    ]
    instants = [utc("2026-10-24T22:00:00") + timedelta(seconds=97 * i) for i in range(400)]
    forward = [[occurrence(w, at) for w in windows] for at in instants]
    shuffled = list(enumerate(instants))
    random.Random(7).shuffle(shuffled)
    answers = {i: [occurrence(w, at) for w in windows] for i, at in shuffled}
    assert [answers[i] for i in range(len(instants))] == forward
    assert [[occurrence(w, at) for w in windows] for at in reversed(instants)] == forward[::-1]


def test_planned_maintenance_ahead_soonest_first():
    nightly = MaintenanceWindow.model_validate(NIGHTLY)
    upgrade = MaintenanceWindow.model_validate({**DB_UPGRADE, "monitors": ["db"]})
    past = MaintenanceWindow.model_validate({**DB_UPGRADE, "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00Z"})
    planned = next_windows([upgrade, nightly, past], utc("2026-11-30T01:10:00"), timedelta(days=1))
    assert [(w.name, start.isoformat(), end.isoformat()) for w, start, end in planned] == [
        ("nightly backup", "2026-11-30T01:00:00+00:00", "2026-11-30T01:30:00+00:00"),  # under way
        ("nightly backup", "2026-12-01T01:00:00+00:00", "2026-12-01T01:30:00+00:00"),  # ends first
        ("db upgrade", "2026-12-01T01:00:00+00:00", "2026-12-01T03:00:00+00:00"),
    ], "01:10 on 2 December is past the horizon"


def test_planned_maintenance_ahead_is_capped():
    often = MaintenanceWindow(name="often", cron="* * * * *", duration=30)
    planned = next_windows([often], utc("2026-06-10T00:00:30"), timedelta(days=7), limit=5)
    assert [start.isoformat() for _, start, _ in planned] == [f"2026-06-10T00:0{m}:00+00:00" for m in range(1, 6)], (
        "the one that ended at 00:00:30 is not ahead"
    )


# Config: the shape as written in ronda.yaml, and every rejection by its exact message.

MONITORS = "monitors:\n  - {name: db, url: 'tcp://db.test:5432'}\n  - {name: api, url: 'https://api.test/'}\n"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ronda.yaml"
    path.write_text(MONITORS + text)
    return str(path)


def test_the_config_reads_one_off_and_recurring_windows(tmp_path):
    config = load_config(
        write(
            tmp_path,
            "maintenance:\n"
            "  - name: db upgrade\n"
            "    start: 2026-12-01T02:00:00+01:00\n"
            "    end: '2026-12-01T04:00:00+01:00'\n"
            "    monitors: [db, api]\n"
            "    tags: [db]\n"
            "  - name: move\n"
            "    start: 2026-07-01T02:00:00\n"
            "    end: 2026-07-01T03:00:00\n"
            "    timezone: Europe/Rome\n"
            "  - {name: nightly backup, cron: '0 2 * * *', duration: 30m, timezone: Europe/Rome}\n",
        ),
        {},
    )
    upgrade, move, nightly = config.maintenance
    assert (upgrade.start, upgrade.end) == (utc("2026-12-01T01:00:00"), utc("2026-12-01T03:00:00"))
    assert (upgrade.monitors, upgrade.tags) == (["db", "api"], ["db"])
    assert (move.start, move.end) == (utc("2026-07-01T00:00:00"), utc("2026-07-01T01:00:00"))
    assert (nightly.cron, nightly.duration, nightly.timezone) == ("0 2 * * *", 1800.0, "Europe/Rome")
    assert (nightly.monitors, nightly.tags) == ([], [])


def bad_window(**keys: Any) -> str:
    lines = "".join(f"    {key}: {value}\n" for key, value in keys.items())
    return "maintenance:\n  - name: w\n" + lines


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            bad_window(cron="'61 2 * * *'", duration="30m"),
            ":6: maintenance[0].cron: '61 2 * * *' is not a cron expression: Bad minute",
        ),
        (
            bad_window(cron="'0 2 * *'", duration="30m"),
            ":6: maintenance[0].cron: '0 2 * *' is not a cron expression: Wrong number of fields",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="30m", timezone="Europe/Roma"),
            ":8: maintenance[0].timezone: unknown time zone 'Europe/Roma'"
            " (use an IANA name such as Europe/Rome or UTC)",
        ),
        (
            bad_window(start="2026-12-01T04:00:00+01:00", end="2026-12-01T02:00:00+01:00"),
            ":7: maintenance[0].end: must be after start",
        ),
        (
            bad_window(start="2026-12-01T02:00:00+01:00", end="2026-12-01T02:00:00+01:00"),
            ":7: maintenance[0].end: must be after start",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="30m", start="2026-12-01T02:00:00+01:00"),
            ":8: maintenance[0].start: a window has either cron (recurring) or start and end (one-off), not both",
        ),
        (
            bad_window(cron="'0 2 * * *'"),
            ":5: maintenance[0].duration: required with cron: how long each window lasts, such as 30m",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="half an hour"),
            ":7: maintenance[0].duration: expected a duration such as 500ms, 30s, 5m or 1h, got 'half an hour'",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="30m", end="2026-12-01T02:00:00+01:00"),
            ":8: maintenance[0].end: goes with start; a recurring window lasts its duration",
        ),
        (
            bad_window(start="2026-12-01T02:00:00+01:00", end="2026-12-01T04:00:00+01:00", duration="30m"),
            ":8: maintenance[0].duration: goes with cron; a one-off window has start and end",
        ),
        (
            bad_window(start="2026-12-01T02:00:00+01:00"),
            ":5: maintenance[0].end: required with start",
        ),
        (
            bad_window(monitors="[db]"),
            ":5: maintenance[0].start: required: a window has start and end (one-off) or cron and duration (recurring)",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="30m", every="day"),
            ":8: maintenance[0].every: unknown key (check its spelling)",
        ),
        (
            bad_window(cron="'0 2 * * *'", duration="30m", monitors="[db, dbb]"),
            ":8: maintenance[0].monitors[1]: no monitor is named 'dbb'",
        ),
        (
            "maintenance:\n  - cron: '0 2 * * *'\n    duration: 30m\n",
            ":5: maintenance[0].name: required but missing",
        ),
    ],
    ids=[
        "a cron expression with a minute past 59",
        "a cron expression with four fields",
        "a time zone that does not exist",
        "an end before the start",
        "an end at the start",
        "a window with both cron and start",
        "a cron without a duration",
        "a duration that is not one",
        "a recurring window with an end",
        "a one-off window with a duration",
        "a start without an end",
        "a window with neither cron nor start",
        "a misspelt key is named, not ignored",
        "a monitor that does not exist",
        "a window without a name",
    ],
)
def test_a_bad_window_is_rejected_with_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    assert f"{path}{message}" in config_error(path)
